/**
 * The parts of the tar format (ustar, GNU, pax) the store needs: read a 512-byte header, and write the pax
 * extended header that the renderer puts in front of an entry to rename it.
 */
export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

export function entryTypeOf(flag: string): EntryType | undefined {
  return TYPES[flag];
}

function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('utf8');
}

/** Octal with NUL/space padding, or GNU base-256 when the high bit of the first byte is set. */
export function readNumber(b: Uint8Array, off: number, len: number): number | undefined {
  const first = b[off] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) return undefined; // negative: never valid here
    let n = first & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + (b[off + i] ?? 0);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let n = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i] ?? 0;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return undefined;
    n = n * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : n;
}

export function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

export function checksumOk(b: Uint8Array, off: number): boolean {
  const stored = readNumber(b, off + 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (b[off + i] ?? 0);
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

export interface RawHeader {
  readonly name: string;
  readonly linkname: string;
  readonly typeflag: string;
  readonly size: number | undefined;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly mtime: number | undefined;
}

export function parseHeader(b: Uint8Array, off: number): RawHeader {
  const magic = cstring(b, off + 257, 6);
  let name = cstring(b, off, 100);
  // Only POSIX ustar uses the prefix field for names; old GNU headers keep times there.
  if (magic === 'ustar') {
    const prefix = cstring(b, off + 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    linkname: cstring(b, off + 157, 100),
    typeflag: String.fromCharCode(b[off + 156] ?? 0),
    size: readNumber(b, off + 124, 12),
    mode: readNumber(b, off + 100, 8),
    uid: readNumber(b, off + 108, 8),
    gid: readNumber(b, off + 116, 8),
    mtime: readNumber(b, off + 136, 12),
  };
}

/** Parses pax records (`"%d %s=%s\n"`); returns undefined when malformed. */
export function parsePax(data: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) return undefined;
    const len = Number(data.toString('latin1', pos, sp));
    if (!Number.isSafeInteger(len) || len <= sp - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) return undefined;
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) return undefined;
    out.set(rec.toString('utf8', 0, eq), rec.toString('utf8', eq + 1));
    pos += len;
  }
  return out;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(bodyLen).length) len = bodyLen + String(len).length;
  return Buffer.from(`${len}${body}`, 'utf8');
}

function writeOctal(b: Buffer, off: number, len: number, n: number): void {
  b.write(n.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

export function setChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i] ?? 0;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  h[154] = 0;
  h[155] = 0x20;
}

/** A pax `x` header and its data blocks, carrying `records` for the entry that follows. */
export function paxHeader(records: ReadonlyMap<string, string>): Buffer {
  const data = Buffer.concat([...records].map(([k, v]) => paxRecord(k, v)));
  const h = Buffer.alloc(BLOCK);
  h.write('PaxHeaders/entry', 0, 100, 'utf8');
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, data.length);
  writeOctal(h, 136, 12, 0);
  h[156] = 0x78; // 'x'
  h.write('ustar\u000000', 257, 8, 'latin1');
  setChecksum(h);
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([h, data, Buffer.alloc(pad)]);
}

/**
 * A copy of an entry's header with name and link name replaced by short stand-ins (the pax header in
 * front of it carries the real ones) and the checksum recomputed.
 */
export function renamedHeader(raw: Uint8Array, shortName: string, shortLink: string): Buffer {
  const h = Buffer.from(raw);
  h.fill(0, 0, 100);
  h.write(shortName.slice(0, 99), 0, 99, 'utf8');
  h.fill(0, 157, 257);
  h.write(shortLink.slice(0, 99), 157, 99, 'utf8');
  if (h.toString('latin1', 257, 262) === 'ustar' && h[262] === 0) h.fill(0, 345, 500);
  setChecksum(h);
  return h;
}
