import { spawn } from 'node:child_process';
import { RootfsError } from './errors.js';
import { overlayPathOption } from './overlay-options.js';
import { firstLine } from './run-tool.js';

/** What a private view shows. */
export type PrivateViewSource =
  /** A directory's own contents, without anything mounted below it (a non-recursive bind). */
  | { readonly kind: 'dir'; readonly dir: string }
  /**
   * Overlay layers, topmost first (at least two), merged read-only: an overlay of lower dirs only, so that
   * whiteouts and opaque directories of an upper layer hide what they delete and no layer is ever written.
   */
  | { readonly kind: 'layers'; readonly layers: readonly string[] };

export interface PrivateViewOptions {
  readonly source: PrivateViewSource;
  /** An existing directory to mount the view on, inside the helper's mount namespace only. */
  readonly at: string;
}

export interface PrivateView {
  /** The view's root: `/proc/<pid>/cwd/`, the helper's working directory, which is the mounted view. */
  readonly root: string;
  /** The helper holding the namespace. */
  readonly pid: number;
  /** Ends the helper; its namespace, and the view's mount with it, goes away. */
  close(): Promise<void>;
}

// The helper mounts the view, moves into it, says so, and waits for its stdin to close: whether its caller
// closes it or dies (kill -9 included), the helper exits and the kernel frees its mount namespace with every
// mount in it. So no mount is ever made in the caller's namespace and none can be left behind.
const HELPER = 'at=$1; shift; mount "$@" "$at" && cd "$at" && echo ready && { read -r _ || :; }';

/**
 * Mounts a view of a tree in a private mount namespace held by a helper process (`unshare --mount
 * --propagation private`), for a caller that must read a tree as it is without what is mounted in it (a pod's
 * volumes) or merged from overlay layers no longer mounted, without making a mount of its own. The view is
 * read through `root`; paths under it keep working if the tree's directories are renamed meanwhile (the
 * helper's working directory holds the mount itself, not a path).
 *
 * Errors: ROOTFS_MOUNT (mount(8)'s reason), ROOTFS_TOOL_MISSING (no unshare), ROOTFS_BAD_INPUT.
 */
export async function openPrivateView(o: PrivateViewOptions): Promise<PrivateView> {
  const mountArgs = viewMountArgs(o.source);
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', HELPER, 'sh', o.at, ...mountArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  // A write to a helper that died is reported by the exit, not as an unhandled stream error.
  child.stdin.on('error', () => {});
  const ready = new Promise<boolean>((resolve) => {
    child.stdout.on('data', (s: string) => {
      stdout += s;
      if (stdout.includes('ready\n')) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  if (!(await ready) || child.pid === undefined) {
    child.stdin.end();
    const { code, error } = await exited;
    const what = o.source.kind === 'dir' ? o.source.dir : o.source.layers.join(':');
    if (error?.code === 'ENOENT') {
      throw new RootfsError('ROOTFS_TOOL_MISSING', 'unshare is not installed (util-linux): needed to read a tree in a private mount namespace', { cause: error });
    }
    const why = error?.message ?? (firstLine(stderr) || `the helper exited with status ${code ?? 'unknown'}`);
    throw new RootfsError('ROOTFS_MOUNT', `cannot mount a private view of ${what}: ${why}`, { path: o.at });
  }
  const pid = child.pid;
  let closing: Promise<void> | undefined;
  return {
    root: `/proc/${pid}/cwd/`,
    pid,
    close() {
      closing ??= (async () => {
        child.stdin.end();
        await exited;
      })();
      return closing;
    },
  };
}

function viewMountArgs(source: PrivateViewSource): string[] {
  if (source.kind === 'dir') return ['--no-canonicalize', '--bind', source.dir];
  if (source.layers.length < 2) {
    throw new RootfsError('ROOTFS_BAD_INPUT', `a merged view needs at least two layers, got ${source.layers.length}`, { path: source.layers[0] });
  }
  const lowers = source.layers.map((l) => overlayPathOption('lowerdir', l).slice('lowerdir='.length)).join(':');
  return ['--no-canonicalize', '-t', 'overlay', '-o', `ro,lowerdir=${lowers}`, 'overlay'];
}
