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

/**
 * Decodes one field. The file is read as latin1, so each character is one byte. The kernel writes space,
 * tab, newline and backslash as `\ooo` (seq_escape); the escapes stand for bytes, and names are bytes too:
 * decode to bytes first, then read the whole field as UTF-8, so a multi-byte name next to an escape
 * comes out whole. Fields of plain ASCII (nearly all) are returned as they are.
 */
export function decodeMountinfoField(latin1: string): string {
  if (!/[\\\u0080-\u00ff]/.test(latin1)) return latin1;
  const bytes = latin1.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8) & 0xff));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/**
 * Whether `path` is written the same in mountinfo's text (read as latin1) as in JavaScript: printable ASCII
 * without the characters the kernel escapes in paths (space, tab, newline, backslash) or overlayfs in its
 * options (`,` `:` `\`).
 */
const writtenAsIs = (path: string): boolean => /^[\x21-\x7e]+$/.test(path) && !/[\\,:]/.test(path);

/**
 * Parses a mountinfo file. `source` names the file in errors. A line that does not have the documented
 * shape is an error rather than skipped: skipping one could hide a pod's mount from gc.
 *
 * With `mentioning`, only the lines that contain one of those paths are parsed (when each is written as is:
 * otherwise every line is): a mount on a path, under it, or an overlay with it as a dir names it. A host
 * with many pods has a line per mount of each, and `rkt run` and gc read the table several times.
 */
export function parseMountinfo(content: Buffer, source = '/proc/self/mountinfo', mentioning?: readonly string[]): MountInfo[] {
  const mounts: MountInfo[] = [];
  const lines = content.toString('latin1').split('\n');
  const only = mentioning !== undefined && mentioning.every(writtenAsIs) ? mentioning : undefined;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    if (line === '') continue;
    if (only !== undefined && !only.some((p) => line.includes(p))) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    const bad = (what: string): RootfsError =>
      new RootfsError('ROOTFS_MOUNTINFO', `${source}: line ${index + 1}: ${what}: ${JSON.stringify(decodeMountinfoField(line))}`, { path: source });
    if (f.length < 10 || dash === -1 || f.length < dash + 4) {
      throw bad('expected "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"');
    }
    const id = Number(f[0]);
    const parentId = Number(f[1]);
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(parentId) || f[0] === '' || f[1] === '') throw bad('mount IDs are not integers');
    const at = (i: number): string => f[i] as string;
    mounts.push({
      id,
      parentId,
      majorMinor: at(2),
      root: decodeMountinfoField(at(3)),
      mountPoint: decodeMountinfoField(at(4)),
      options: at(5),
      optionalFields: f.slice(6, dash),
      fsType: decodeMountinfoField(at(dash + 1)),
      source: decodeMountinfoField(at(dash + 2)),
      // Should a future kernel append fields, keep them with the super options rather than drop them.
      superOptions: decodeMountinfoField(f.slice(dash + 3).join(' ')),
    });
  }
  return mounts;
}
