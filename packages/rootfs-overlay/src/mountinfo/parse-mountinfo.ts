import { RootfsError } from '../errors.js';

/** One line of /proc/self/mountinfo (proc(5)), with the kernel's octal escapes decoded. */
export interface MountInfo {
  id: number;
  parentId: number;
  /** `major:minor` of the filesystem's device (`0:39` for an overlay). */
  majorMinor: string;
  /** The directory of the filesystem mounted here (not `/` for bind mounts of a subdirectory). */
  root: string;
  mountPoint: string;
  /** Per-mount options (`rw,relatime`). */
  options: string;
  /** Optional fields such as `shared:1` or `master:2`: they say how mount events propagate. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options; for overlay they hold `lowerdir=...,upperdir=...,workdir=...`. */
  superOptions: string;
}

const BACKSLASH = 0x5c;

/**
 * The kernel writes space, tab, newline and backslash in paths as `\ooo` (seq_escape). The escapes stand
 * for bytes, and names are bytes too: decode to bytes first, then read the whole field as UTF-8, so a
 * multi-byte name next to an escape comes out whole.
 */
export function decodeMountinfoField(raw: Buffer): string {
  if (!raw.includes(BACKSLASH)) return raw.toString('utf8');
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === BACKSLASH && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      out[n++] = (((raw[i + 1] as number) - 0x30) << 6) | (((raw[i + 2] as number) - 0x30) << 3) | ((raw[i + 3] as number) - 0x30);
      i += 3;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n).toString('utf8');
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x37;
}

function splitBytes(buf: Buffer, sep: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (;;) {
    const at = buf.indexOf(sep, start);
    if (at === -1) {
      parts.push(buf.subarray(start));
      return parts;
    }
    parts.push(buf.subarray(start, at));
    start = at + 1;
  }
}

/**
 * Parses the whole of a mountinfo file. `source` names the file in errors. A line that does not have the
 * documented shape is an error rather than skipped: skipping one could hide a pod's mount from gc.
 */
export function parseMountinfo(content: Buffer, source = '/proc/self/mountinfo'): MountInfo[] {
  const mounts: MountInfo[] = [];
  const lines = splitBytes(content, 0x0a);
  lines.forEach((line, index) => {
    if (line.length === 0) return;
    const f = splitBytes(line, 0x20);
    const dash = f.findIndex((x, i) => i >= 6 && x.length === 1 && x[0] === 0x2d);
    const bad = (what: string): RootfsError =>
      new RootfsError('ROOTFS_MOUNTINFO', `${source}: line ${index + 1}: ${what}: ${JSON.stringify(line.toString('utf8'))}`, {
        path: source,
      });
    if (f.length < 10 || dash === -1 || f.length < dash + 4) throw bad('expected "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"');
    const id = Number(f[0]?.toString());
    const parentId = Number(f[1]?.toString());
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(parentId)) throw bad('mount IDs are not integers');
    const field = (i: number): Buffer => f[i] as Buffer;
    mounts.push({
      id,
      parentId,
      majorMinor: field(2).toString(),
      root: decodeMountinfoField(field(3)),
      mountPoint: decodeMountinfoField(field(4)),
      options: field(5).toString(),
      optionalFields: f.slice(6, dash).map((x) => x.toString()),
      fsType: decodeMountinfoField(field(dash + 1)),
      source: decodeMountinfoField(field(dash + 2)),
      // Super options can be followed by more fields in future kernels; keep them together.
      superOptions: decodeMountinfoField(Buffer.concat(f.slice(dash + 3).flatMap((x, i) => (i === 0 ? [x] : [Buffer.from(' '), x])))),
    });
  });
  return mounts;
}
