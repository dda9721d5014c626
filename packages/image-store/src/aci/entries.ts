import { StoreError } from '../errors.js';
import type { TarEntry } from '../tar/parser.js';

/**
 * Normalizes an archive name to its components (`./rootfs//a/./b/` -> `rootfs/a/b`). Absolute names and
 * `..` are refused rather than stripped: an image that contains them was made to attack, not by mistake.
 */
export function normalizeName(name: string, what: string, source: string): string {
  if (name.startsWith('/')) {
    throw new StoreError('STORE_ACI_UNSAFE', `${source}: ${what} ${JSON.stringify(name)} is an absolute path`, { subject: name });
  }
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      throw new StoreError('STORE_ACI_UNSAFE', `${source}: ${what} ${JSON.stringify(name)} contains ".."`, { subject: name });
    }
    parts.push(p);
  }
  if (parts.length === 0) {
    throw new StoreError('STORE_ACI_UNSAFE', `${source}: ${what} ${JSON.stringify(name)} is empty`, { subject: name });
  }
  return parts.join('/');
}

function parentsOf(path: string): string[] {
  const out: string[] = [];
  let i = path.indexOf('/');
  while (i >= 0) {
    out.push(path.slice(0, i));
    i = path.indexOf('/', i + 1);
  }
  return out;
}

/**
 * Checks each entry of one ACI as it streams by: only `manifest` and `rootfs[/...]`, no duplicates, nothing
 * reached through a symlink of the same archive, hard links only to earlier regular files of the archive.
 */
export class EntryRules {
  private readonly seen = new Map<string, TarEntry['type']>();

  constructor(private readonly source: string) {}

  private unsafe(message: string, subject: string): never {
    throw new StoreError('STORE_ACI_UNSAFE', `${this.source}: ${message}`, { subject });
  }

  /** The normalized target of a hard link entry already accepted by `check`. */
  linkTarget(e: TarEntry): string {
    return normalizeName(e.linkpath, 'hard link target', this.source);
  }

  check(e: TarEntry): string {
    const name = normalizeName(e.path, 'entry', this.source);
    if (name !== 'manifest' && name !== 'rootfs' && !name.startsWith('rootfs/')) {
      this.unsafe(`entry ${JSON.stringify(e.path)} is outside "manifest" and "rootfs/"`, e.path);
    }
    if (name === 'manifest' && e.type !== 'file') this.unsafe('"manifest" is not a regular file', e.path);
    if (name === 'rootfs' && e.type !== 'dir') this.unsafe('"rootfs" is not a directory', e.path);
    if (this.seen.has(name)) this.unsafe(`duplicate entry ${JSON.stringify(name)}`, e.path);
    for (const parent of parentsOf(name)) {
      const t = this.seen.get(parent);
      if (t !== undefined && t !== 'dir') {
        this.unsafe(`entry ${JSON.stringify(e.path)} lies under ${JSON.stringify(parent)}, which is a ${t}, not a directory`, e.path);
      }
    }
    if (e.type === 'hardlink') {
      const target = normalizeName(e.linkpath, `hard link target of ${JSON.stringify(e.path)}:`, this.source);
      const t = this.seen.get(target);
      if (!target.startsWith('rootfs/') || (t !== 'file' && t !== 'hardlink')) {
        this.unsafe(`hard link ${JSON.stringify(e.path)} points to ${JSON.stringify(e.linkpath)}, which is not an earlier file of the image`, e.path);
      }
    }
    if (e.type === 'symlink' && e.linkpath === '') this.unsafe(`symlink ${JSON.stringify(e.path)} has an empty target`, e.path);
    this.seen.set(name, e.type);
    return name;
  }
}
