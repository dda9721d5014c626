import { StoreError } from '../errors.js';
import {
  BLOCK, checksumOk, entryTypeOf, isZeroBlock, parseHeader, parsePax, type EntryType,
} from './header.js';

export interface TarEntry {
  /** The name as stored (pax `path`, GNU long name, or ustar prefix + name). */
  readonly path: string;
  readonly linkpath: string;
  readonly type: EntryType;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  /** The entry's own 512-byte header, as in the archive. */
  readonly header: Uint8Array;
  /** The entry's pax records (xattrs, precise times, ...), merged from its `x` header. */
  readonly pax: ReadonlyMap<string, string>;
  /** Ordinal of the entry in the archive, from 0. */
  readonly index: number;
}

export interface TarHandler {
  entry(e: TarEntry): void;
  /** A piece of the current entry's content (without padding). */
  data(chunk: Buffer): void;
  end(): void;
}

const MAX_META = 1 << 20; // pax and GNU long-name blocks: nobody needs a megabyte of path

type State =
  | { kind: 'header' }
  | { kind: 'meta'; type: 'x' | 'g' | 'L' | 'K'; remaining: number; pad: number; parts: Buffer[] }
  | { kind: 'data'; remaining: number; pad: number }
  | { kind: 'done' };

/**
 * A push parser: `write` chunks in order, `finish` at the end of input. It validates checksums, refuses
 * entry kinds an image cannot hold (sparse files, volume labels ...) and detects truncation. `source` names
 * the archive in errors.
 */
export class TarParser {
  private pending: Buffer = Buffer.alloc(0);
  private state: State = { kind: 'header' };
  private nextPax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private count = 0;
  private offset = 0;

  constructor(private readonly handler: TarHandler, private readonly source: string) {}

  private fail(message: string): never {
    throw new StoreError('STORE_ACI_FORMAT', `${this.source}: ${message}`, { subject: this.source });
  }

  write(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (pos < buf.length) {
      const st = this.state;
      if (st.kind === 'done') return; // trailing blocks after the end marker are ignored
      if (st.kind === 'data') {
        if (st.remaining > 0) {
          const n = Math.min(st.remaining, buf.length - pos);
          this.handler.data(buf.subarray(pos, pos + n));
          st.remaining -= n;
          pos += n;
          continue;
        }
        const n = Math.min(st.pad, buf.length - pos);
        st.pad -= n;
        pos += n;
        if (st.pad === 0) this.state = { kind: 'header' };
        continue;
      }
      if (st.kind === 'meta') {
        if (st.remaining > 0) {
          const n = Math.min(st.remaining, buf.length - pos);
          st.parts.push(Buffer.from(buf.subarray(pos, pos + n)));
          st.remaining -= n;
          pos += n;
          continue;
        }
        const n = Math.min(st.pad, buf.length - pos);
        st.pad -= n;
        pos += n;
        if (st.pad === 0) this.endMeta(st.type, Buffer.concat(st.parts));
        continue;
      }
      if (buf.length - pos < BLOCK) break;
      this.header(buf, pos);
      pos += BLOCK;
      this.offset += BLOCK;
    }
    this.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    buf = Buffer.alloc(0);
  }

  private header(buf: Buffer, pos: number): void {
    if (isZeroBlock(buf, pos)) {
      // One zero block is enough: GNU tar and Go accept a lone one as the end of the archive.
      this.state = { kind: 'done' };
      this.handler.end();
      return;
    }
    if (!checksumOk(buf, pos)) this.fail(`corrupt tar header at byte ${this.offset} (bad checksum)`);
    const h = parseHeader(buf, pos);
    if (h.size === undefined) this.fail(`corrupt tar header at byte ${this.offset} (bad size field)`);
    const pad = (BLOCK - (h.size % BLOCK)) % BLOCK;
    if (h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K') {
      if (h.size > MAX_META) this.fail(`tar extended header of ${h.size} bytes at byte ${this.offset} is too large`);
      this.state = { kind: 'meta', type: h.typeflag, remaining: h.size, pad, parts: [] };
      return;
    }
    const type = entryTypeOf(h.typeflag);
    if (type === undefined) {
      this.fail(`entry ${JSON.stringify(h.name)} has unsupported tar type ${JSON.stringify(h.typeflag)}`);
    }
    const pax = this.nextPax;
    const paxSize = pax.get('size');
    const size = paxSize !== undefined ? Number(paxSize) : h.size;
    if (!Number.isSafeInteger(size) || size < 0) this.fail(`entry ${JSON.stringify(h.name)} has an invalid size`);
    const entry: TarEntry = {
      path: pax.get('path') ?? this.longName ?? h.name,
      linkpath: pax.get('linkpath') ?? this.longLink ?? h.linkname,
      type,
      size: type === 'file' ? size : 0,
      mode: h.mode ?? 0,
      uid: pax.has('uid') ? Number(pax.get('uid')) : (h.uid ?? 0),
      gid: pax.has('gid') ? Number(pax.get('gid')) : (h.gid ?? 0),
      mtime: h.mtime ?? 0,
      header: Buffer.from(buf.subarray(pos, pos + BLOCK)),
      pax,
      index: this.count++,
    };
    this.nextPax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    this.handler.entry(entry);
    // Links and directories carry no data even if a size is written; files carry exactly `size` bytes.
    const dataSize = type === 'file' ? size : (type === 'hardlink' || type === 'symlink' || type === 'dir' ? 0 : h.size);
    this.state = { kind: 'data', remaining: dataSize, pad: (BLOCK - (dataSize % BLOCK)) % BLOCK };
    this.offset += dataSize + ((BLOCK - (dataSize % BLOCK)) % BLOCK);
  }

  private endMeta(type: 'x' | 'g' | 'L' | 'K', data: Buffer): void {
    this.offset += data.length + ((BLOCK - (data.length % BLOCK)) % BLOCK);
    if (type === 'L' || type === 'K') {
      const end = data.indexOf(0);
      const value = data.toString('utf8', 0, end < 0 ? data.length : end);
      if (type === 'L') this.longName = value;
      else this.longLink = value;
    } else {
      const records = parsePax(data);
      if (records === undefined) this.fail(`malformed pax header before byte ${this.offset}`);
      // Global headers carry only comments in practice; applying them across layers would be wrong.
      if (type === 'x') for (const [k, v] of records) this.nextPax.set(k, v);
    }
    this.state = { kind: 'header' };
  }

  /**
   * What the parser needs next, for callers that read a seekable file block by block: a header (512 bytes),
   * an extended header's `bytes`, an entry's `bytes` of data and padding (which `skipData` can skip), or
   * nothing more.
   */
  next(): { kind: 'header' | 'meta' | 'data' | 'done'; bytes: number } {
    const st = this.state;
    if (this.pending.length > 0) throw new Error('TarParser.next() needs block-aligned writes');
    switch (st.kind) {
      case 'header': return { kind: 'header', bytes: BLOCK };
      case 'meta': return { kind: 'meta', bytes: st.remaining + st.pad };
      case 'data': return { kind: 'data', bytes: st.remaining + st.pad };
      default: return { kind: 'done', bytes: 0 };
    }
  }

  /** Skips the current entry's content without reading it (the handler gets no `data` calls). */
  skipData(): void {
    if (this.state.kind === 'data') this.state = { kind: 'header' };
  }

  /** Call at the end of input: a missing end marker or a cut entry means the archive is truncated. */
  finish(): void {
    if (this.state.kind === 'done') return;
    if (this.state.kind === 'header' && this.pending.length === 0 && this.count > 0) {
      // Some writers omit the end-of-archive blocks; ending cleanly between entries is accepted.
      this.state = { kind: 'done' };
      this.handler.end();
      return;
    }
    this.fail(this.count === 0 && this.offset === 0 && this.pending.length === 0
      ? 'empty archive'
      : `truncated archive (input ended inside ${this.state.kind === 'data' ? 'an entry' : 'a header'} near byte ${this.offset})`);
  }
}
