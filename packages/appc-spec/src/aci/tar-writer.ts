import { BLOCK, F, TYPEFLAG, fitsOctal, writeBytes, writeNumber } from './tar-header.js';
import type { EntryType } from './tar-header.js';

/** Everything a header says about one member; the writer adds nothing from the environment. */
export interface TarHeader {
  /** Archive path, without a trailing slash (directories get one). */
  name: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Contents length; 0 for everything but regular files. */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

const MAGIC = Buffer.from('ustar\u000000', 'latin1'); // magic "ustar\0" then version "00"

/**
 * Encodes one member's header: a pax extended header first when the ustar fields cannot hold it (long names,
 * big numbers, xattrs), then the ustar block. Deterministic: no user or group names, no access or change
 * times, pax records in sorted key order, and a pax header name derived from the entry name only.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'directory' ? `${h.name}/` : h.name;
  const nameBytes = Buffer.from(name, 'utf8');
  const linkBytes = Buffer.from(h.linkname ?? '', 'utf8');
  const records: Array<[string, Buffer]> = [];

  const split = splitName(nameBytes);
  if (split === undefined) records.push(['path', nameBytes]);
  if (linkBytes.length > F.linkname[1]) records.push(['linkpath', linkBytes]);
  for (const [key, value, field] of [
    ['uid', h.uid, F.uid],
    ['gid', h.gid, F.gid],
    ['size', h.size, F.size],
  ] as const) {
    if (!fitsOctal(value, field)) records.push([key, Buffer.from(String(value))]);
  }
  if (!fitsOctal(h.mtime, F.mtime)) records.push(['mtime', Buffer.from(String(h.mtime))]);
  if (h.xattrs !== undefined) {
    for (const [k, v] of h.xattrs) records.push([`SCHILY.xattr.${k}`, Buffer.from(v)]);
  }

  const ustar = ustarBlock({
    nameBytes: split?.name ?? nameBytes.subarray(0, F.name[1]),
    prefixBytes: split?.prefix,
    linkBytes: linkBytes.subarray(0, F.linkname[1]),
    typeflag: TYPEFLAG[h.type],
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: Math.max(0, h.mtime),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return ustar;

  records.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const base = basename(nameBytes);
  const paxName = Buffer.concat([Buffer.from('PaxHeaders/'), base]).subarray(0, F.name[1]);
  const paxHeader = ustarBlock({
    nameBytes: paxName,
    prefixBytes: undefined,
    linkBytes: Buffer.alloc(0),
    typeflag: 0x78, // 'x'
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), ustar]);
}

/** Zero bytes that pad `size` bytes of contents to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

interface UstarFields {
  nameBytes: Uint8Array;
  prefixBytes: Uint8Array | undefined;
  linkBytes: Uint8Array;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeBytes(b, F.name, f.nameBytes);
  writeNumber(b, F.mode, f.mode);
  writeNumber(b, F.uid, f.uid);
  writeNumber(b, F.gid, f.gid);
  writeNumber(b, F.size, f.size);
  writeNumber(b, F.mtime, f.mtime);
  b[F.typeflag[0]] = f.typeflag;
  writeBytes(b, F.linkname, f.linkBytes);
  MAGIC.copy(b, F.magic[0]);
  writeNumber(b, F.devmajor, f.devmajor);
  writeNumber(b, F.devminor, f.devminor);
  if (f.prefixBytes !== undefined) writeBytes(b, F.prefix, f.prefixBytes);
  b.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  // Six octal digits, NUL, space: the form GNU tar and Go write.
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) b[F.chksum[0] + i] = s.charCodeAt(i);
  b[F.chksum[0] + 6] = 0;
  b[F.chksum[0] + 7] = 0x20;
  return b;
}

/** ustar's 155-byte prefix + 100-byte name split at a slash, or undefined if the name needs pax. */
function splitName(name: Buffer): { name: Buffer; prefix: Buffer | undefined } | undefined {
  if (name.length <= F.name[1]) return { name, prefix: undefined };
  // A directory's trailing slash stays with the name part.
  const searchEnd = name[name.length - 1] === 0x2f ? name.length - 2 : name.length - 1;
  for (let i = Math.min(searchEnd, F.prefix[1]); i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (name.length - i - 1 > F.name[1]) return undefined;
    return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
  }
  return undefined;
}

function basename(name: Buffer): Buffer {
  let end = name.length;
  while (end > 0 && name[end - 1] === 0x2f) end--;
  const start = name.lastIndexOf(0x2f, end - 1) + 1;
  return name.subarray(start, end);
}

/** `<len> <key>=<value>\n` where len counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // space, '=', '\n'
  let len = rest + String(rest).length;
  if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}
