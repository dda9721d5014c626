import { existsSync, lstatSync, readlinkSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { POD_FILES } from './layout.js';
import type { PodAppInfo, PodInfo } from './info.js';

// A pod records where its trees are in the store. Since pod format version 2 it does so relative to the data
// directory (pod-info.json's `lower`, the stage1/rootfs link), so that the data directory can be moved with
// its pods in it (rsync and a bind mount, or another --dir), as rkt's could: rkt stored tree IDs and computed
// the paths at run time. Pods of version 1 hold absolute paths under the data directory they were made in;
// those are read as written, and where they are gone but the same place exists in this data directory (it
// moved), that is used.

/** `path` relative to `dataDir` when it lies under it; as given otherwise (a store a library caller keeps elsewhere). */
export function dataDirRelative(dataDir: string, path: string): string {
  const rel = relative(dataDir, path);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? path : rel;
}

/**
 * The target of a new pod's `stage1/rootfs` link: relative, up from `pods/<state>/<uuid>/stage1` (every state
 * directory, embryo's too, is at that depth) to the data directory and down to the tree, so that it resolves
 * wherever the data directory is, from whichever state directory the pod is in. Absolute when the tree is not
 * under the data directory, or when `pods` is a symlink (pods kept on another disk): the kernel resolves `..`
 * from where the link really is, which is then not in the data directory.
 */
export function stage1LinkTarget(dataDir: string, stage1Rootfs: string): string {
  const rel = dataDirRelative(dataDir, stage1Rootfs);
  if (isAbsolute(rel) || lstatSync(join(dataDir, 'pods'), { throwIfNoEntry: false })?.isSymbolicLink() === true) return stage1Rootfs;
  return join('..', '..', '..', '..', rel);
}

/** Where a tree's rootfs is in the data directory, from the `cas/trees/<id>/rootfs` an absolute path ends with. */
function movedTreePath(dataDir: string, absolute: string): string | undefined {
  const m = /\/(cas\/trees\/[^/]+\/rootfs)$/.exec(absolute);
  return m === null ? undefined : join(dataDir, m[1]!);
}

const isDir = (path: string): boolean => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;

/**
 * The lower tree of an app's rootfs. Version 2 (`rkt run`'s pods): a path join, nothing looked at. Version 1:
 * the absolute path it holds, or, when that is gone and its `cas/trees/<treeId>/rootfs` is in this data
 * directory, that one.
 */
export function appLower(dataDir: string, info: PodInfo, app: PodAppInfo): string {
  if (isAbsolute(app.lower)) {
    if (info.formatVersion >= 2 || isDir(app.lower)) return app.lower;
    const moved = movedTreePath(dataDir, app.lower);
    return moved !== undefined && moved.endsWith(`/${app.treeId}/rootfs`) && isDir(moved) ? moved : app.lower;
  }
  return join(dataDir, app.lower);
}

/**
 * Points a pod's `stage1/rootfs` link at its tree in this data directory when it dangles and that tree is here:
 * an absolute link of a pod made (version 1, or where `pods` is a symlink) in a data directory that has since
 * moved, or a relative one a session-19 rkt-ts wrote where `pods` is a symlink, whose `..` the kernel resolves
 * from the other disk. stage0 runs the stage1's entrypoints through the link, and so do stage1s (an older one
 * included, which cannot be changed), so the link itself is mended, with the one a new pod would get (made
 * beside it and renamed over it, so that a reader sees one or the other). A link that resolves is left alone,
 * at the cost of one system call (it is looked through first, read only when that fails). Returns whether it
 * mended.
 */
export function relinkMovedStage1(dataDir: string, podDir: string): boolean {
  const link = join(podDir, POD_FILES.stage1Rootfs);
  if (existsSync(link)) return false;
  let target: string;
  try {
    target = readlinkSync(link);
  } catch {
    return false; // none (a pod killed before its stage1's tree was rendered): the caller says what it lacks
  }
  // Both forms end with the tree's place in a data directory (`../../../../cas/trees/<id>/rootfs`).
  const moved = movedTreePath(dataDir, target);
  if (moved === undefined || !isDir(moved)) return false;
  const mended = stage1LinkTarget(dataDir, moved);
  if (mended === target) return false; // it would dangle as it does
  const tmp = `${link}.relink-${process.pid}-${Date.now()}`;
  try {
    symlinkSync(mended, tmp);
    renameSync(tmp, link);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // not made
    }
    return false;
  }
  return true;
}
