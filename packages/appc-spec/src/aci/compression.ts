import { AppcError } from '../errors.js';

/** The compressions the appc spec allows for an image archive. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'bzip2', 'xz'];

/** Bytes needed to tell every supported (and every recognised but refused) format apart. */
export const MAGIC_LENGTH = 6;

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}

/**
 * Tells the compression of an image archive from its first bytes (give at least `MAGIC_LENGTH`).
 * Anything that is not gzip, bzip2 or xz is `none`: the tar reader then decides whether it is a tar.
 *
 * @example detectCompression(await readHead('busybox.aci')) // 'gzip'
 */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, [0x1f, 0x8b])) return 'gzip';
  // "BZh" then the block size digit 1-9.
  if (startsWith(head, [0x42, 0x5a, 0x68]) && head.length > 3 && head[3]! >= 0x31 && head[3]! <= 0x39) return 'bzip2';
  if (startsWith(head, XZ_MAGIC)) return 'xz';
  return 'none';
}

// Formats people do feed to image tools; naming them beats "bad tar header checksum".
const REFUSED: ReadonlyArray<{ name: string; magic: readonly number[] }> = [
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18] },
  { name: 'lzip', magic: [0x4c, 0x5a, 0x49, 0x50] },
  { name: 'compress (.Z)', magic: [0x1f, 0x9d] },
  { name: 'zip', magic: [0x50, 0x4b, 0x03, 0x04] },
];

/** Throws `APPC_COMPRESSION` when `head` is a compression the spec does not allow. */
export function refuseUnsupportedCompression(head: Uint8Array, source: string): void {
  for (const f of REFUSED) {
    if (startsWith(head, f.magic)) {
      throw new AppcError(
        'APPC_COMPRESSION',
        `${source}: ${f.name} compression is not allowed for an ACI (only gzip, bzip2 or xz)`,
        { source },
      );
    }
  }
}

export function parseCompression(value: string, where: string): Compression {
  if ((COMPRESSIONS as readonly string[]).includes(value)) return value as Compression;
  throw new AppcError('APPC_COMPRESSION', `${where}: unknown compression "${value}" (none, gzip, bzip2 or xz)`);
}
