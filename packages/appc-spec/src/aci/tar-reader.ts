import { AppcError } from '../errors.js';
import type { AppcErrorCode } from '../errors.js';
import {
  BLOCK,
  F,
  HEADER_ONLY,
  fieldIsEmpty,
  headerChecksums,
  isZeroBlock,
  readNumber,
  readString,
} from './tar-header.js';
import type { EntryType } from './tar-header.js';

/** One archive member, with pax and GNU long-name extensions already applied. */
export interface TarEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; fractional when a pax header says so. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From pax `SCHILY.xattr.*` records. */
  xattrs: ReadonlyMap<string, Buffer> | undefined;
  /** Byte offset of the entry's first header (its extended header when it has one). */
  offset: number;
  /** Byte offset of the entry's data: right after its own header. */
  dataOffset: number;
  /** A global pax header is among the headers from `offset` on: its attributes apply to every later entry too. */
  globalHeader?: boolean;
}

export interface TarVisitor {
  /** Called for every entry; return true to receive its contents through `data` and then `end`. */
  entry(e: TarEntry): boolean;
  data(chunk: Uint8Array): void;
  end(): void;
}

/** Extended headers and GNU long names are held in memory: no legitimate one comes near this. */
const MAX_META = 1 << 20;

const TYPES: Record<number, EntryType> = {
  0x00: 'file',
  0x30: 'file',
  0x37: 'file', // contiguous file: a regular file everywhere that matters
  0x31: 'hardlink',
  0x32: 'symlink',
  0x33: 'char',
  0x34: 'block',
  0x35: 'directory',
  0x36: 'fifo',
};

const META = { x: 0x78, g: 0x67, L: 0x4c, K: 0x4b } as const;

const enum State {
  Header,
  Body,
  End,
}

type MetaKind = 'pax' | 'global' | 'longname' | 'longlink';

/**
 * A push parser for tar streams: feed it chunks of any size with `push`, then call `end`. It never buffers
 * file contents (only the entries the visitor asks for are handed on, chunk by chunk), so memory stays flat
 * whatever the archive's size. Every malformation is an `AppcError` naming the source and the entry or offset.
 */
export class TarReader {
  private state = State.Header;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Absolute offset of the next byte pushed. */
  private pos = 0;
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  private wantData = false;
  private meta: { kind: MetaKind; parts: Buffer[]; size: number } | undefined;
  private metaStart = -1;
  private metaGlobal = false;
  private pax: Map<string, Buffer> | undefined;
  private globalPax: Map<string, Buffer> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private current: TarEntry | undefined;
  entries = 0;

  constructor(
    private readonly visitor: TarVisitor,
    private readonly source: string,
  ) {}

  push(chunk: Uint8Array): void {
    let i = 0;
    const len = chunk.length;
    while (i < len) {
      if (this.state === State.Header) {
        if (this.headerFill === 0 && len - i >= BLOCK) {
          this.onHeader(chunk, i, this.pos);
          i += BLOCK;
          this.pos += BLOCK;
        } else {
          const n = Math.min(BLOCK - this.headerFill, len - i);
          this.header.set(chunk.subarray(i, i + n), this.headerFill);
          this.headerFill += n;
          i += n;
          this.pos += n;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            this.onHeader(this.header, 0, this.pos - BLOCK);
          }
        }
      } else if (this.state === State.Body) {
        if (this.remaining > 0) {
          const n = Math.min(this.remaining, len - i);
          this.onData(chunk.subarray(i, i + n));
          this.remaining -= n;
          i += n;
          this.pos += n;
          if (this.remaining === 0) this.onBodyEnd();
        } else {
          const n = Math.min(this.padding, len - i);
          this.padding -= n;
          i += n;
          this.pos += n;
        }
        if (this.remaining === 0 && this.padding === 0) this.state = State.Header;
      } else {
        // After the end-of-archive marker: the bytes still count for the image ID, but hold no entries.
        this.pos += len - i;
        i = len;
      }
    }
  }

  /** The stream ended: throws unless it ended on an entry boundary. */
  end(): void {
    if (this.state === State.End) return;
    if (this.state === State.Body) {
      const what = this.current === undefined ? 'an extended header' : `entry ${JSON.stringify(this.current.name)}`;
      this.fail('APPC_ACI_CORRUPT', `archive is truncated inside ${what} (${this.remaining + this.padding} bytes missing)`);
    }
    if (this.headerFill !== 0 && this.pos === this.headerFill) this.fail('APPC_ACI_CORRUPT', `not a tar archive (${this.pos} bytes, less than one header)`);
    if (this.headerFill !== 0) this.fail('APPC_ACI_CORRUPT', `archive is truncated inside a header at offset ${this.pos - this.headerFill}`);
    if (this.meta !== undefined || this.pax !== undefined || this.longName !== undefined || this.longLink !== undefined) {
      this.fail('APPC_ACI_CORRUPT', `archive is truncated after an extended header at offset ${this.metaStart}`);
    }
    if (this.pos === 0) this.fail('APPC_ACI_CORRUPT', 'is empty, not an ACI');
  }

  /**
   * For a reader of a seekable input that wants headers only: called right after `push` delivered an entry's
   * header whose contents the visitor declined, it skips those contents and their padding and returns how many
   * bytes the caller must skip in the input (0 when there is nothing to skip: an extended header's body, an
   * entry the visitor reads, or no entry in progress).
   */
  skipBody(): number {
    if (this.state !== State.Body || this.meta !== undefined || this.wantData) return 0;
    const n = this.remaining + this.padding;
    this.pos += n;
    this.remaining = 0;
    this.padding = 0;
    this.state = State.Header;
    return n;
  }

  /** Total bytes consumed. */
  get offset(): number {
    return this.pos;
  }

  private fail(code: AppcErrorCode, what: string): never {
    throw new AppcError(code, `${this.source}: ${what}`, { source: this.source });
  }

  private onHeader(block: Uint8Array, at: number, start: number): void {
    if (isZeroBlock(block, at)) {
      if (this.meta !== undefined || this.pax !== undefined || this.longName !== undefined || this.longLink !== undefined) {
        this.fail('APPC_ACI_CORRUPT', `extended header at offset ${this.metaStart} is not followed by an entry`);
      }
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = State.End;
      return;
    }
    if (this.zeroBlocks !== 0) this.fail('APPC_ACI_CORRUPT', `lone zero block before offset ${start}: archive is corrupt`);

    const stored = readNumber(block, at, F.chksum);
    const sums = headerChecksums(block, at);
    if (stored === undefined || (stored !== sums.unsigned && stored !== sums.signed)) {
      this.fail('APPC_ACI_CORRUPT', start === 0 ? 'not a tar archive (bad header checksum at offset 0)' : `bad tar header checksum at offset ${start}`);
    }
    const flag = block[at + F.typeflag[0]]!;
    const size = this.num(block, at, F.size, 'size', start);

    if (flag === META.x || flag === META.g || flag === META.L || flag === META.K) {
      if (size > MAX_META) this.fail('APPC_ACI_CORRUPT', `extended header at offset ${start} is ${size} bytes, over the ${MAX_META}-byte limit`);
      const kind: MetaKind = flag === META.x ? 'pax' : flag === META.g ? 'global' : flag === META.L ? 'longname' : 'longlink';
      if (this.metaStart < 0) this.metaStart = start;
      if (kind === 'global') this.metaGlobal = true;
      this.current = undefined;
      this.meta = { kind, parts: [], size };
      this.beginBody(size, false);
      if (size === 0) this.onBodyEnd();
      return;
    }

    const type = TYPES[flag];
    const ustar = this.isPosixUstar(block, at);
    let name = readString(block, at, F.name);
    if (ustar && !fieldIsEmpty(block, at, F.prefix)) name = `${readString(block, at, F.prefix)}/${name}`;
    let linkname = readString(block, at, F.linkname);
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;

    const entry: TarEntry = {
      name,
      type: type ?? 'file',
      mode: this.num(block, at, F.mode, 'mode', start),
      uid: this.num(block, at, F.uid, 'uid', start),
      gid: this.num(block, at, F.gid, 'gid', start),
      size,
      mtime: this.num(block, at, F.mtime, 'mtime', start),
      linkname,
      devmajor: 0,
      devminor: 0,
      xattrs: undefined,
      offset: this.metaStart >= 0 ? this.metaStart : start,
      dataOffset: start + BLOCK,
      ...(this.metaGlobal ? { globalHeader: true } : {}),
    };
    if (entry.type === 'char' || entry.type === 'block') {
      entry.devmajor = this.num(block, at, F.devmajor, 'devmajor', start);
      entry.devminor = this.num(block, at, F.devminor, 'devminor', start);
    }
    if (this.globalPax !== undefined) this.applyPax(entry, this.globalPax);
    if (this.pax !== undefined) this.applyPax(entry, this.pax);
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.metaStart = -1;
    this.metaGlobal = false;

    const label = `entry ${JSON.stringify(entry.name)} at offset ${entry.offset}`;
    if (type === undefined) {
      const shown = flag >= 0x21 && flag <= 0x7e ? `'${String.fromCharCode(flag)}'` : `0x${flag.toString(16)}`;
      this.fail('APPC_ACI_LAYOUT', `${label}: unsupported tar entry type ${shown}`);
    }
    if (entry.name.includes('\0') || entry.linkname.includes('\0')) this.fail('APPC_ACI_CORRUPT', `${label}: name contains a NUL byte`);
    if (HEADER_ONLY.has(entry.type) && entry.size !== 0) {
      this.fail('APPC_ACI_LAYOUT', `${label}: a ${entry.type} entry must not carry data (size ${entry.size})`);
    }

    this.entries++;
    this.current = entry;
    const want = this.visitor.entry(entry);
    this.beginBody(entry.size, want);
    if (entry.size === 0) this.onBodyEnd();
  }

  private isPosixUstar(block: Uint8Array, at: number): boolean {
    const m = at + F.magic[0];
    // "ustar\0" (POSIX); GNU's "ustar  \0" uses the prefix area for other fields.
    return block[m] === 0x75 && block[m + 1] === 0x73 && block[m + 2] === 0x74 && block[m + 3] === 0x61 && block[m + 4] === 0x72 && block[m + 5] === 0;
  }

  private num(block: Uint8Array, at: number, field: readonly [number, number], what: string, start: number): number {
    const v = readNumber(block, at, field);
    if (v === undefined) this.fail('APPC_ACI_CORRUPT', `header at offset ${start}: malformed ${what} field`);
    return v;
  }

  private beginBody(size: number, want: boolean): void {
    this.wantData = want;
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size > 0 || this.padding > 0) this.state = State.Body;
  }

  private onData(chunk: Uint8Array): void {
    if (this.meta !== undefined) {
      this.meta.parts.push(Buffer.from(chunk));
    } else if (this.wantData) {
      this.visitor.data(chunk);
    }
  }

  private onBodyEnd(): void {
    const meta = this.meta;
    if (meta !== undefined) {
      this.meta = undefined;
      const body = Buffer.concat(meta.parts, meta.size);
      if (meta.kind === 'pax') this.pax = this.parsePax(body, this.pax);
      else if (meta.kind === 'global') this.globalPax = this.parsePax(body, this.globalPax);
      else {
        const nul = body.indexOf(0);
        const value = body.subarray(0, nul < 0 ? body.length : nul).toString('utf8');
        if (meta.kind === 'longname') this.longName = value;
        else this.longLink = value;
      }
      return;
    }
    if (this.wantData) {
      this.wantData = false;
      this.visitor.end();
    }
  }

  /** Records are `<length> <key>=<value>\n`, the length counting the whole record. */
  private parsePax(body: Buffer, into: Map<string, Buffer> | undefined): Map<string, Buffer> {
    const out = into ?? new Map<string, Buffer>();
    const bad = (why: string): never => this.fail('APPC_ACI_CORRUPT', `malformed pax header at offset ${this.metaStart}: ${why}`);
    let i = 0;
    while (i < body.length) {
      // Trailing NUL padding is tolerated, as GNU tar and Go do.
      if (body[i] === 0) {
        for (let j = i; j < body.length; j++) if (body[j] !== 0) bad('data after NUL padding');
        break;
      }
      let len = 0;
      let j = i;
      while (j < body.length && body[j]! >= 0x30 && body[j]! <= 0x39 && j - i < 10) {
        len = len * 10 + (body[j]! - 0x30);
        j++;
      }
      if (j === i || body[j] !== 0x20) bad('record length');
      const end = i + len;
      if (len < j - i + 4 || end > body.length || body[end - 1] !== 0x0a) bad('record length');
      const eq = body.indexOf(0x3d, j + 1);
      if (eq < 0 || eq >= end - 1 || eq === j + 1) bad('record without key');
      const key = body.subarray(j + 1, eq).toString('utf8');
      const value = body.subarray(eq + 1, end - 1);
      if (key.startsWith('GNU.sparse.')) this.fail('APPC_ACI_LAYOUT', `pax header at offset ${this.metaStart}: sparse files are not supported`);
      // An empty value removes the key (POSIX), so the header's own field applies again.
      if (value.length === 0) out.delete(key);
      else out.set(key, Buffer.from(value));
      i = end;
    }
    return out;
  }

  private applyPax(entry: TarEntry, pax: ReadonlyMap<string, Buffer>): void {
    for (const [key, raw] of pax) {
      switch (key) {
        case 'path':
          entry.name = raw.toString('utf8');
          break;
        case 'linkpath':
          entry.linkname = raw.toString('utf8');
          break;
        case 'size':
        case 'uid':
        case 'gid': {
          const s = raw.toString('latin1');
          if (!/^[0-9]{1,16}$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) this.fail('APPC_ACI_CORRUPT', `pax header at offset ${this.metaStart}: malformed ${key} "${s.slice(0, 20)}"`);
          entry[key] = Number(s);
          break;
        }
        case 'mtime': {
          const s = raw.toString('latin1');
          if (!/^-?[0-9]{1,16}(\.[0-9]{0,19})?$/.test(s)) this.fail('APPC_ACI_CORRUPT', `pax header at offset ${this.metaStart}: malformed mtime "${s.slice(0, 20)}"`);
          entry.mtime = Number(s);
          break;
        }
        default:
          if (key.startsWith('SCHILY.xattr.')) {
            const name = key.slice('SCHILY.xattr.'.length);
            if (name === '') this.fail('APPC_ACI_CORRUPT', `pax header at offset ${this.metaStart}: empty xattr name`);
            const xattrs = (entry.xattrs as Map<string, Buffer> | undefined) ?? new Map<string, Buffer>();
            xattrs.set(name, raw);
            entry.xattrs = xattrs;
          }
      }
    }
  }
}
