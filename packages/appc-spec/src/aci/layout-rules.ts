import { AppcError } from '../errors.js';
import type { EntryType } from './tar-header.js';

export const MANIFEST = 'manifest';
export const ROOTFS = 'rootfs';

/** What the layout rules need to know about one archive entry. */
export interface LayoutEntry {
  name: string;
  type: EntryType;
  linkname: string;
  offset: number;
  /** Where the entry comes from, when that beats an archive offset in errors (a file being archived). */
  origin?: string;
}

/** `./rootfs//bin/` -> `rootfs/bin`; `''` for the archive root (`./`). Returns an error text for `..` and absolute names. */
export function normalizeEntryName(raw: string): { name: string } | { error: string } {
  if (raw === '') return { error: 'has an empty name' };
  if (raw.startsWith('/')) return { error: 'has an absolute name' };
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { error: 'has a ".." component' };
    parts.push(part);
  }
  return { name: parts.join('/') };
}

/**
 * The image archive rules of the appc spec (only `manifest` and `rootfs/...`, no duplicates), plus the rules
 * that keep an extraction inside rootfs whatever tool performs it: no `..` or absolute names, no symlink whose
 * target climbs out of rootfs, no hardlink to anything but an earlier rootfs entry, and nothing placed through a
 * symlink or over a directory that earlier entries live in. Entries are fed in archive order; errors are
 * `APPC_ACI_LAYOUT` naming the source and the entry.
 */
export class LayoutRules {
  /** Normalised name -> type of every entry seen. */
  private readonly seen = new Map<string, EntryType>();
  /** Directories that earlier entries were placed in, explicitly or not. */
  private readonly parents = new Set<string>();
  private manifestSeen = false;
  private rootfsSeen = false;

  constructor(private readonly source: string) {}

  /** Checks one entry; returns its normalised name. */
  check(e: LayoutEntry): string {
    const norm = normalizeEntryName(e.name);
    if ('error' in norm) this.fail(e, norm.error);
    const name = norm.name;
    if (name === '') {
      // The archive root (`./`), as `tar -C layout -cf x.aci .` writes it: harmless if it is a directory.
      if (e.type !== 'directory') this.fail(e, `the archive root must be a directory, not a ${e.type}`);
      return name;
    }
    if (this.seen.has(name)) this.fail(e, 'is a duplicate entry');

    if (name === MANIFEST) {
      if (e.type !== 'file') this.fail(e, `manifest must be a regular file, not a ${e.type}`);
      this.manifestSeen = true;
    } else if (name === ROOTFS) {
      if (e.type !== 'directory') this.fail(e, `rootfs must be a directory, not a ${e.type}`);
      this.rootfsSeen = true;
    } else if (!name.startsWith(`${ROOTFS}/`)) {
      this.fail(e, 'is outside manifest and rootfs/');
    }

    // Every ancestor must be a directory (or not in the archive at all): never a symlink, which would send
    // this entry wherever the symlink points.
    for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
      const parent = name.slice(0, i);
      const t = this.seen.get(parent);
      if (t === 'symlink') this.fail(e, `is under ${JSON.stringify(parent)}, which is a symlink in this archive`);
      if (t !== undefined && t !== 'directory') this.fail(e, `is under ${JSON.stringify(parent)}, which is a ${t}, not a directory`);
      this.parents.add(parent);
    }
    if (e.type !== 'directory' && this.parents.has(name)) {
      this.fail(e, `is a ${e.type} replacing a directory that earlier entries are in`);
    }

    if (e.type === 'symlink') this.checkSymlink(e, name);
    if (e.type === 'hardlink') this.checkHardlink(e);
    this.seen.set(name, e.type);
    return name;
  }

  /** After the last entry. */
  finish(): void {
    if (!this.manifestSeen) throw new AppcError('APPC_ACI_NO_MANIFEST', `${this.source}: no manifest in the archive`, { source: this.source });
    if (!this.rootfsSeen) throw new AppcError('APPC_ACI_LAYOUT', `${this.source}: no rootfs directory entry in the archive`, { source: this.source });
  }

  /**
   * Absolute targets are resolved against rootfs at run time (the app's `/`), so they cannot leave it. Relative
   * ones are resolved lexically from the link's directory and must never climb above rootfs.
   */
  private checkSymlink(e: LayoutEntry, name: string): void {
    const target = e.linkname;
    if (target === '') this.fail(e, 'is a symlink with an empty target');
    if (target.startsWith('/')) return;
    // The link's directory, counted from rootfs: `rootfs/a/b/link` starts 2 deep.
    let depth = name.split('/').length - 2;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (depth === 0) this.fail(e, `is a symlink to ${JSON.stringify(target)}, which points outside rootfs`);
        depth--;
      } else {
        depth++;
      }
    }
  }

  private checkHardlink(e: LayoutEntry): void {
    const norm = normalizeEntryName(e.linkname);
    const shown = JSON.stringify(e.linkname);
    if ('error' in norm) this.fail(e, `is a hardlink to ${shown}, which ${norm.error}`);
    const target = norm.name;
    if (!target.startsWith(`${ROOTFS}/`)) this.fail(e, `is a hardlink to ${shown}, which is not under rootfs/`);
    const t = this.seen.get(target);
    if (t === undefined) this.fail(e, `is a hardlink to ${shown}, which is not an earlier entry of the archive`);
    if (t === 'directory') this.fail(e, `is a hardlink to ${shown}, which is a directory`);
  }

  private fail(e: LayoutEntry, what: string): never {
    const where = e.origin ?? `${this.source}: entry ${JSON.stringify(e.name)} at offset ${e.offset}`;
    throw new AppcError('APPC_ACI_LAYOUT', `${where}: ${what}`, { source: e.origin ?? this.source });
  }
}
