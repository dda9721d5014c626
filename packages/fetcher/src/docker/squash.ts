import type { TarEntry, TarHeader } from '@rkt/appc-spec';
import type { DockerLayerFile } from './types.js';
import { layerError } from './layer-stream.js';

/**
 * The squashed tree of a Docker image, built from the layers' headers alone (pass one): each surviving path
 * knows the layer and the member (its index in that layer's tar) that defines it, so pass two can copy the
 * contents of exactly those members. Nothing is extracted, so a symlink in one layer never sends another
 * layer's files anywhere: paths are resolved here, inside the tree, as containerd's applier resolves them
 * inside the root (`fs.RootPath`).
 */
interface Node {
  readonly name: string;
  /** Normalized path from the root: `etc/passwd`; `''` for the root. */
  readonly path: string;
  readonly parent: Node | undefined;
  /** The member defining it; undefined for the root and for directories only implied by deeper members. */
  entry: TarEntry | undefined;
  /** Layer index of `entry` (or of the member that implied the directory). */
  layer: number;
  /** Index of `entry` among its layer's members; -1 without one. */
  seq: number;
  readonly dir: boolean;
  readonly children: Map<string, Node> | undefined;
  dead: boolean;
  /** A hardlink's inode: the node whose member carries the contents the link shares. */
  inode: Node | undefined;
  /** On such a node, the hardlinks to it, in the order they were met. */
  links: Node[] | undefined;
}

/** One member of the output, written when pass two meets member `seq` of its layer. */
export interface Emission {
  readonly seq: number;
  /** The member as pass one saw it: pass two checks the layer still has it there. */
  readonly source: TarEntry;
  readonly header: TarHeader;
  /** Whether the member's contents follow the header. */
  readonly contents: boolean;
}

export interface SquashPlan {
  /** Every directory, parents first, siblings by name: written before any other member. */
  readonly directories: TarHeader[];
  /** Per layer, by member index. */
  readonly emissions: Emission[][];
  /** Members of no layer (docker2aci's /dev symlinks), written last. */
  readonly trailer: TarHeader[];
  /** How many members each layer had in pass one. */
  readonly counts: number[];
}

const ROOTFS = 'rootfs';
const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';
/** As Docker's FollowSymlinkInScope. */
const MAX_LINKS = 255;

/** docker2aci's stdio symlinks, added where the image has no such path. */
const STDIO_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/dev/console'],
  ['stderr', '/dev/console'],
  ['fd', '/proc/self/fd'],
];

/** `./a//b/` -> ['a', 'b']; a leading `/` is dropped as Docker drops it; `..` is refused. */
function components(raw: string): string[] | '..' {
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return '..';
    out.push(part);
  }
  return out;
}

export class Squash {
  private readonly root: Node = newNode('', undefined, undefined, -1, -1, true);
  private readonly counts: number[] = [];
  private layerIndex = -1;
  private seq = 0;
  private layer: DockerLayerFile | undefined;

  /** Starts the next layer up. */
  beginLayer(layer: DockerLayerFile): void {
    if (this.layer !== undefined) this.counts.push(this.seq);
    this.layer = layer;
    this.layerIndex++;
    this.seq = 0;
  }

  /** Pass one's visitor for one member: never wants contents. */
  member(e: TarEntry): void {
    const seq = this.seq++;
    const parts = components(e.name);
    if (parts === '..') this.fail(e, 'has a ".." component');
    if (parts.length === 0) return; // the layer's root directory entry (`./`), as docker2aci skipped it
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    const i = this.layerIndex;

    if (base.startsWith(WHITEOUT)) {
      if (base === OPAQUE) {
        const dir = this.resolveDir(parentParts, false, e);
        if (dir !== undefined) for (const c of [...dir.children!.values()]) this.whiteOut(c);
        return;
      }
      // `.wh..wh.*` other than the opaque marker is AUFS bookkeeping (`.wh..wh.plnk`), not a whiteout.
      if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
      const name = base.slice(WHITEOUT.length);
      if (name === '' || name === '.' || name === '..') this.fail(e, 'is a whiteout of no name');
      const target = this.resolveDir(parentParts, false, e)?.children!.get(name);
      if (target !== undefined) this.whiteOut(target);
      return;
    }

    const parent = this.resolveDir(parentParts, true, e)!;
    const existing = parent.children!.get(base);
    if (e.type === 'directory') {
      if (existing?.dir === true) {
        // A directory over a directory: its metadata changes, what lower layers put in it stays.
        existing.entry = e;
        existing.layer = i;
        existing.seq = seq;
        return;
      }
      if (existing !== undefined) kill(existing);
      parent.children!.set(base, newNode(base, parent, e, i, seq, true));
      return;
    }

    let inode: Node | undefined;
    if (e.type === 'hardlink') {
      const tparts = components(e.linkname);
      if (tparts === '..') this.fail(e, `is a hardlink to ${JSON.stringify(e.linkname)}, which has a ".." component`);
      const tdir = tparts.length === 0 ? undefined : this.resolveDir(tparts.slice(0, -1), false, e);
      const target = tdir?.children!.get(tparts[tparts.length - 1]!);
      if (target === undefined) this.fail(e, `is a hardlink to ${JSON.stringify(e.linkname)}, which is not in this layer or a lower one`);
      if (target.dir) this.fail(e, `is a hardlink to ${JSON.stringify(e.linkname)}, which is a directory`);
      inode = target.inode ?? target;
    }
    if (existing !== undefined) kill(existing);
    const node = newNode(base, parent, e, i, seq, false);
    if (inode !== undefined) {
      node.inode = inode;
      (inode.links ??= []).push(node);
    }
    parent.children!.set(base, node);
  }

  /**
   * After the last layer: docker2aci's checks and stdio symlinks, then what pass two writes. Directories and
   * docker2aci's symlinks are written from memory; every other member when its layer is read again.
   */
  plan(layerCount: number): SquashPlan {
    if (this.layer !== undefined) this.counts.push(this.seq);
    while (this.counts.length < layerCount) this.counts.push(0);
    const trailer: TarHeader[] = [];
    let dev = this.root.children!.get('dev');
    if (dev !== undefined && !dev.dir) throw layerError(this.layer!, 'invalid image: "/dev" is not a directory');
    for (const [name, target] of STDIO_LINKS) {
      if (dev?.children!.has(name) === true) continue;
      if (dev === undefined) {
        dev = newNode('dev', this.root, undefined, layerCount, -1, true);
        this.root.children!.set('dev', dev);
      }
      const node = newNode(name, dev, undefined, layerCount, -1, false);
      dev.children!.set(name, node);
      trailer.push({ name: `${ROOTFS}/dev/${name}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: target });
    }

    const directories: TarHeader[] = [];
    const emissions: Emission[][] = this.counts.map(() => []);
    const carriersOfDeadInodes = new Set<Node>();
    const walk = (n: Node): void => {
      for (const name of [...n.children!.keys()].sort()) {
        const c = n.children!.get(name)!;
        if (c.dir) {
          directories.push(c.entry === undefined ? impliedDirectory(c.path) : header(c.entry, c.path));
          walk(c);
        } else if (c.entry === undefined) {
          // docker2aci's symlinks: in the trailer already.
        } else if (c.inode === undefined) {
          emissions[c.layer]!.push({ seq: c.seq, source: c.entry, header: header(c.entry, c.path), contents: c.entry.type === 'file' });
          for (const l of c.links ?? []) if (!l.dead) emissions[l.layer]!.push(link(l, c.path));
        } else if (c.inode.dead) {
          carriersOfDeadInodes.add(c.inode);
        }
      }
    };
    walk(this.root);
    // A hardlink whose original is gone (deleted or replaced by a later layer) still has its contents: the
    // first surviving link takes them, at the original's place in the stream (before every link to it), and
    // the others link to it; docker2aci's squash did the same.
    for (const inode of carriersOfDeadInodes) {
      const alive = inode.links!.filter((l) => !l.dead);
      const first = alive[0]!;
      emissions[inode.layer]!.push({ seq: inode.seq, source: inode.entry!, header: header(inode.entry!, first.path), contents: inode.entry!.type === 'file' });
      for (const l of alive.slice(1)) emissions[l.layer]!.push(link(l, first.path));
    }
    for (const list of emissions) list.sort((a, b) => a.seq - b.seq);
    return { directories, emissions, trailer, counts: this.counts };
  }

  /**
   * Removes what lower layers put at `n` (and under it): a node of this layer stays, and so does a lower
   * directory with something of this layer under it, as the bare directory that member implied.
   * Returns whether `n` survives.
   */
  private whiteOut(n: Node): boolean {
    let keep = false;
    if (n.dir) for (const c of [...n.children!.values()]) if (this.whiteOut(c)) keep = true;
    if (n.layer >= this.layerIndex) return true;
    if (keep) {
      n.entry = undefined;
      n.layer = this.layerIndex;
      n.seq = -1;
      return true;
    }
    kill(n);
    return false;
  }

  /**
   * The directory `parts` names, its symlinks followed inside the tree (absolute targets from the root, `..`
   * stopping at the root), as Docker and containerd resolve a member's parent inside the root. With `create`,
   * missing directories are implied (as extracting the member would make them) and a file in the way is an
   * error; without, either gives undefined.
   */
  private resolveDir(parts: readonly string[], create: boolean, e: TarEntry): Node | undefined {
    let cur = this.root;
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        cur = cur.parent ?? this.root;
        continue;
      }
      let next = cur.children!.get(c);
      if (next === undefined) {
        if (!create) return undefined;
        next = newNode(c, cur, undefined, this.layerIndex, -1, true);
        cur.children!.set(c, next);
      } else if (next.entry?.type === 'symlink') {
        if (++hops > MAX_LINKS) this.fail(e, `is under ${JSON.stringify(next.path)}: too many levels of symbolic links`);
        const target = next.entry.linkname;
        queue.unshift(...target.split('/'));
        if (target.startsWith('/')) cur = this.root;
        continue;
      } else if (!next.dir) {
        if (!create) return undefined;
        this.fail(e, `is under ${JSON.stringify(next.path)}, which is a ${next.entry?.type ?? 'file'}, not a directory`);
      }
      cur = next;
    }
    return cur;
  }

  private fail(e: TarEntry, what: string): never {
    throw layerError(this.layer!, `member ${JSON.stringify(e.name)} ${what}`);
  }
}

function newNode(name: string, parent: Node | undefined, entry: TarEntry | undefined, layer: number, seq: number, dir: boolean): Node {
  const path = parent === undefined || parent.path === '' ? name : `${parent.path}/${name}`;
  return { name, path, parent, entry, layer, seq, dir, children: dir ? new Map() : undefined, dead: false, inode: undefined, links: undefined };
}

/** Detaches `n` and marks it and everything under it gone. */
function kill(n: Node): void {
  if (n.parent?.children!.get(n.name) === n) n.parent.children!.delete(n.name);
  const stack = [n];
  while (stack.length > 0) {
    const x = stack.pop()!;
    x.dead = true;
    if (x.children !== undefined) for (const c of x.children.values()) stack.push(c);
  }
}

function impliedDirectory(path: string): TarHeader {
  return { name: `${ROOTFS}/${path}`, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
}

function header(e: TarEntry, path: string): TarHeader {
  const h: TarHeader = {
    name: `${ROOTFS}/${path}`,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'file' ? e.size : 0,
    mtime: Math.floor(e.mtime),
  };
  if (e.type === 'symlink') h.linkname = clampSymlink(path, e.linkname);
  if (e.type === 'char' || e.type === 'block') {
    h.devmajor = e.devmajor;
    h.devminor = e.devminor;
  }
  if (e.xattrs !== undefined) h.xattrs = e.xattrs;
  return h;
}

function link(l: Node, target: string): Emission {
  const e = l.entry!;
  return {
    seq: l.seq,
    source: e,
    header: { name: `${ROOTFS}/${l.path}`, type: 'hardlink', mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size: 0, mtime: Math.floor(e.mtime), linkname: `${ROOTFS}/${target}` },
    contents: false,
  };
}

/**
 * A relative symlink target that climbs above the root (`../../../lib/x` two directories down) resolves, in
 * the container, as if the extra `..` were not there (`..` of `/` is `/`): they are dropped, which keeps its
 * meaning and the ACI layout rule that no symlink points outside rootfs. Other targets are kept byte for byte.
 */
export function clampSymlink(path: string, target: string): string {
  if (target.startsWith('/') || target === '') return target;
  let depth = path.split('/').length - 1;
  const kept: string[] = [];
  let dropped = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (depth === 0) {
        dropped = true;
        continue;
      }
      depth--;
    } else {
      depth++;
    }
    kept.push(part);
  }
  if (!dropped) return target;
  return kept.length === 0 ? '.' : kept.join('/');
}
