/**
 * The ustar header block (POSIX.1-1988 with the pax and GNU extensions readers meet in practice), shared by
 * the streaming reader and the deterministic writer. Field offsets are the standard's.
 */
export const BLOCK = 512;

export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** The file kinds an ACI may hold. */
export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

/** Header-only kinds: their size field must be 0, since readers disagree on whether data follows them. */
export const HEADER_ONLY: ReadonlySet<EntryType> = new Set(['hardlink', 'symlink', 'char', 'block', 'directory', 'fifo']);

/** Sum of the header bytes with the checksum field counted as spaces, unsigned and (for old tars) signed. */
export function headerChecksums(block: Uint8Array, at: number): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  const [cOff, cLen] = F.chksum;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= cOff && i < cOff + cLen ? 0x20 : block[at + i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Bytes up to the first NUL of a field, decoded as UTF-8. */
export function readString(block: Uint8Array, at: number, [off, len]: readonly [number, number]): string {
  const start = at + off;
  let end = start;
  while (end < start + len && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset + start, end - start).toString('utf8');
}

export function fieldIsEmpty(block: Uint8Array, at: number, [off, len]: readonly [number, number]): boolean {
  for (let i = at + off; i < at + off + len; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * A numeric field: octal ASCII padded with spaces or NULs, or GNU base-256 (high bit of the first byte set)
 * for values octal cannot hold. Returns `undefined` when the field is malformed or does not fit a safe integer.
 */
export function readNumber(block: Uint8Array, at: number, [off, len]: readonly [number, number]): number | undefined {
  const start = at + off;
  const first = block[start]!;
  if (first & 0x80) {
    // 0xff marks a negative base-256 number: no field an ACI needs may be negative.
    if (first === 0xff) return undefined;
    let v = first & 0x7f;
    for (let i = start + 1; i < start + len; i++) {
      v = v * 256 + block[i]!;
      if (v > Number.MAX_SAFE_INTEGER) return undefined;
    }
    return v;
  }
  let i = start;
  const end = start + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  while (i < end && block[i]! >= 0x30 && block[i]! <= 0x37) {
    v = v * 8 + (block[i]! - 0x30);
    digits++;
    i++;
  }
  // The rest may only be terminators.
  while (i < end) {
    if (block[i] !== 0x20 && block[i] !== 0) return undefined;
    i++;
  }
  return digits === 0 ? 0 : v;
}

/** Writes `value` as zero-padded octal filling `len - 1` digits and a NUL, or base-256 if it does not fit. */
export function writeNumber(block: Uint8Array, [off, len]: readonly [number, number], value: number): void {
  const digits = len - 1;
  if (value >= 0 && value < 8 ** digits) {
    const s = value.toString(8).padStart(digits, '0');
    for (let i = 0; i < digits; i++) block[off + i] = s.charCodeAt(i);
    block[off + digits] = 0;
    return;
  }
  let v = value;
  for (let i = off + len - 1; i > off; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[off] = 0x80;
}

/** Fits a numeric field without an extension: octal with room for its NUL. */
export function fitsOctal(value: number, [, len]: readonly [number, number]): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

export function writeBytes(block: Uint8Array, [off, len]: readonly [number, number], bytes: Uint8Array): void {
  block.set(bytes.subarray(0, len), off);
}
