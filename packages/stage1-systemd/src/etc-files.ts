import { readFileSync, realpathSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveInRoot, RootfsError, type ResolvedInRoot } from '@rkt/rootfs-overlay';

/** The pod's hostname when `--hostname` gives none, as rkt named it: its machine name. */
export function defaultHostname(uuid: string): string {
  return `rkt-${uuid}`;
}

/** /etc/hosts for an image that brings none: localhost and the pod's hostname on the loopback. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost localhost.localdomain ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback ${hostname}\n`;
}

/** The mount points of this process's mount namespace (mountinfo's fifth field, its octal escapes decoded). */
export function mountPoints(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  }
  return out;
}

/**
 * Where `hostPath` (below `root`) or one of its parents below the root is a mount point: a volume stage0
 * mounted there (on the host, before the stage1 runs), as the app sees it; undefined when none is. The file is
 * then the volume's: `--volume=e,kind=host,source=/etc --mount=volume=e,target=/etc` must not have the host's
 * own /etc/hostname replaced, and a read-only or single-file volume cannot be written anyway (EROFS, EBUSY).
 * mountinfo rather than st_dev: a bind mount from the filesystem the root is on has the same device.
 */
function volumeAt(root: string, hostPath: string, mounts: ReadonlySet<string>): string | undefined {
  for (let p = hostPath; p.startsWith(`${root}/`); p = dirname(p)) if (mounts.has(p)) return p.slice(root.length);
  return undefined;
}

/**
 * Where the app's unit mounts filesystems of its own (MountAPIVFS=: /proc, /sys, /dev, and /run as an empty
 * tmpfs): a file written there into the root beforehand would be hidden from the app.
 */
const API_MOUNTS = ['/run', '/proc', '/sys', '/dev'];

function underApiMount(inRoot: string): boolean {
  return API_MOUNTS.some((m) => inRoot === m || inRoot.startsWith(`${m}/`));
}

/** What writeEtcFiles did not write into the app's root. */
export interface EtcFiles {
  /** Files left alone (a volume's, or the image's own), for --debug. */
  readonly notes: string[];
  /**
   * Files whose links lead below /run, /proc, /sys or /dev of the app: the app's unit binds them there
   * (`BindPaths=`), and systemd resolves `path` through the same links once its own /run is mounted.
   */
  readonly binds: Array<{ readonly path: string; readonly content: string }>;
}

/** One line naming the app and the file, for what resolveInRoot found wrong on the way to it. */
function cannotWrite(app: string, path: string, err: unknown): Error {
  const why = err instanceof RootfsError && err.reason !== undefined ? `${err.reason} (at ${err.inRoot ?? path})` : (err as Error).message;
  return new Error(`app ${app}: cannot write ${path} in its root filesystem: ${why}`, { cause: err });
}

/**
 * Writes `path` (`/etc/hostname`) of an app's root as the app will find it: through the image's own links,
 * each resolved inside the root (`/etc -> /usr/etc`, `/etc/hosts -> ../srv/hosts`, even `/../../x`), never
 * on the host. What is missing on the way is made inside the root. Returns `'bind'` instead when the links
 * lead below one of the unit's own mounts (API_MOUNTS), a note when the file is a volume's, and, with
 * `onlyIfMissing`, nothing when the image has one already; throws one line when the path cannot lead to
 * a file (a directory, a link loop, a file where a directory should be).
 */
async function writeInRoot(
  root: string,
  app: string,
  path: string,
  content: string,
  mounts: ReadonlySet<string>,
  onlyIfMissing: boolean,
): Promise<{ note: string } | 'bind' | undefined> {
  let found: ResolvedInRoot;
  try {
    found = await resolveInRoot(root, path, { allowMissing: true });
  } catch (err) {
    // A hosts file the image names but that leads nowhere usable is the image's own, as a file would be.
    if (onlyIfMissing) return { note: `${path} not written: the image has one, which cannot be resolved (${(err as Error).message})` };
    throw cannotWrite(app, path, err);
  }
  const api = underApiMount(found.inRoot);
  // What the image has below /run and the rest, the app never sees.
  if (onlyIfMissing && found.kind !== 'missing' && !api) return undefined;
  const volume = volumeAt(root, found.hostPath, mounts);
  if (volume !== undefined) return { note: `${path} not written: a volume is mounted at ${volume}` };
  if (found.kind === 'dir') throw new Error(`app ${app}: cannot write ${path} in its root filesystem: it resolves to ${found.inRoot}, a directory`);
  if (api) return 'bind';
  let hostPath = found.hostPath;
  if (found.kind === 'missing') {
    try {
      ({ hostPath } = await resolveInRoot(root, path, { create: 'file' }));
    } catch (err) {
      throw cannotWrite(app, path, err);
    }
  }
  // hostPath has no link left in it. Replaced rather than written into: in a copied root (--no-overlay)
  // the image's file may be a hard link to another of its files.
  await rm(hostPath, { force: true });
  await writeFile(hostPath, content, { flag: 'wx', mode: 0o644 });
  return undefined;
}

/**
 * /etc/hostname always (the pod's name), /etc/hosts when the image has none, as rkt's stage1 did; neither
 * into a volume. Returns what it left to the app's unit to bind, and a note for each file left alone, for
 * --debug; throws one line naming the app and the path when /etc/hostname cannot be written.
 */
export async function writeEtcFiles(rootfs: string, app: string, hostname: string, mounts: ReadonlySet<string> = mountPoints()): Promise<EtcFiles> {
  // mountinfo shows resolved paths.
  const root = realpathSync(rootfs);
  const out: EtcFiles = { notes: [], binds: [] };
  for (const [path, content, onlyIfMissing] of [
    ['/etc/hostname', `${hostname}\n`, false],
    ['/etc/hosts', hostsFile(hostname), true],
  ] as const) {
    const done = await writeInRoot(root, app, path, content, mounts, onlyIfMissing);
    if (done === 'bind') out.binds.push({ path, content });
    else if (done !== undefined) out.notes.push(done.note);
  }
  return out;
}
