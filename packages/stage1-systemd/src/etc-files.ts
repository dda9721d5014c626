import { constants, readFileSync, realpathSync } from 'node:fs';
import { access, chown, lchown, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DNS_CONF_FILES, type DnsConfMode } from '@rkt/controller/stage1-abi';
import { resolveInRoot, RootfsError, type ResolvedInRoot } from '@rkt/rootfs-overlay';

/** The pod's hostname when `--hostname` gives none, as rkt named it: its machine name. */
export function defaultHostname(uuid: string): string {
  return `rkt-${uuid}`;
}

/** /etc/hosts for an image that brings none: localhost and the pod's hostname on the loopback. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost localhost.localdomain ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback ${hostname}\n`;
}

/**
 * A hosts file with the pod's hostname added to its loopback lines (the first `127.0.0.1` and `::1` ones), as
 * rkt's stage1 added it to the file stage0 generated for `--hosts-entry`; a `127.0.0.1` line is appended
 * when there is none.
 */
export function hostsWithHostname(text: string, hostname: string): string {
  const done = new Set<string>();
  const lines = text.split('\n').map((line) => {
    const address = line.trim().split(/\s+/)[0];
    if ((address === '127.0.0.1' || address === '::1') && !done.has(address)) {
      done.add(address);
      return `${line} ${hostname}`;
    }
    return line;
  });
  const out = lines.join('\n');
  return done.has('127.0.0.1') ? out : `${out}${out === '' || out.endsWith('\n') ? '' : '\n'}127.0.0.1\t${hostname}\n`;
}

/** A file run gives the apps: the host's (`--dns=host`, `--hosts-entry=host`) or one stage0 generated in the pod directory. */
function readGiven(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${what} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}

/**
 * The /etc/resolv.conf and /etc/hosts every app of the pod gets (`--dns-conf-mode`), read once for the pod:
 * the host's files as they are when the pod starts (rkt bound them read-only: a copy needs no mount and goes
 * through each image's links as the other files do), or the files stage0 generated in the pod directory
 * (`pod`), the hosts file with the pod's hostname added. Nothing for `none` and `default`: each image's own
 * resolv.conf, and /etc/hosts only for an image that has none.
 */
export function dnsContents(pod: string, mode: DnsConfMode, hostname: string): { resolvConf?: string; hosts?: string } {
  const resolvConf =
    mode.resolv === 'host' ? readGiven('/etc/resolv.conf', "the host's") : mode.resolv === 'stage0' ? readGiven(join(pod, DNS_CONF_FILES.resolv), "stage0's") : undefined;
  const hosts =
    mode.hosts === 'host' ? readGiven('/etc/hosts', "the host's") : mode.hosts === 'stage0' ? hostsWithHostname(readGiven(join(pod, DNS_CONF_FILES.hosts), "stage0's"), hostname) : undefined;
  return { ...(resolvConf !== undefined ? { resolvConf } : {}), ...(hosts !== undefined ? { hosts } : {}) };
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
 * What writing `path` (`/etc/hostname`) of an app's root comes to, decided without writing anything: through
 * the image's own links, each resolved inside the root (`/etc -> /usr/etc`, `/etc/hosts -> ../srv/hosts`,
 * even `/../../x`), never on the host. `'bind'` when the links lead below one of the unit's own mounts
 * (API_MOUNTS), a note when the file is a volume's, with `onlyIfMissing` nothing (`'keep'`) when the image has
 * one already, else the file to write (`hostPath`, free of links; what is missing on the way is made inside
 * the root when it is written). Throws one line when the path cannot lead to a file (a directory, a link
 * loop, a file where a directory should be) or where it would be made cannot be written (a read-only file
 * system): what a refusal needs is known here, before the content is.
 */
async function placeInRoot(
  root: string,
  app: string,
  path: string,
  mounts: ReadonlySet<string>,
  onlyIfMissing: boolean,
): Promise<{ note: string } | 'bind' | 'keep' | { write: string; missing: boolean }> {
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
  if (onlyIfMissing && found.kind !== 'missing' && !api) return 'keep';
  const volume = volumeAt(root, found.hostPath, mounts);
  if (volume !== undefined) return { note: `${path} not written: a volume is mounted at ${volume}` };
  if (found.kind === 'dir') throw new Error(`app ${app}: cannot write ${path} in its root filesystem: it resolves to ${found.inRoot}, a directory`);
  if (api) return 'bind';
  await checkWritable(root, app, path, found.hostPath);
  return { write: found.hostPath, missing: found.kind === 'missing' };
}

/**
 * The file is replaced (or made, with the directories missing on the way) in the nearest directory of its
 * path that exists: one on a read-only file system (or an immutable one) refuses the write, said in one line
 * naming it as the app sees it. access(2) tells it for root too (EROFS, EPERM), without writing.
 */
async function checkWritable(root: string, app: string, path: string, hostPath: string): Promise<void> {
  let dir = dirname(hostPath);
  while (dir.length > root.length && !(await stat(dir).then((s) => s.isDirectory(), () => false))) dir = dirname(dir);
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const inRoot = dir.length > root.length ? dir.slice(root.length) : '/';
    const why = code === 'EROFS' ? 'a read-only file system' : `not writable (${code ?? String(err)})`;
    throw new Error(`app ${app}: cannot write ${path} in its root filesystem: ${inRoot} is ${why}`, { cause: err });
  }
}

/**
 * Writes `path` of an app's root as the app will find it (placeInRoot), the content replacing whatever file
 * is there. Returns `'bind'` for the unit to bind it, a note when it was left alone.
 */
async function writeInRoot(
  root: string,
  app: string,
  path: string,
  content: string,
  mounts: ReadonlySet<string>,
  onlyIfMissing: boolean,
  owner: number,
): Promise<{ note: string } | 'bind' | undefined> {
  const place = await placeInRoot(root, app, path, mounts, onlyIfMissing);
  if (place === 'keep') return undefined;
  if (place === 'bind' || 'note' in place) return place;
  let hostPath = place.write;
  if (place.missing) {
    const made = owner === 0 ? [] : await missingDirs(root, place.write);
    try {
      ({ hostPath } = await resolveInRoot(root, path, { create: 'file' }));
    } catch (err) {
      throw cannotWrite(app, path, err);
    }
    // The directories made on the way (/etc of an image without one) are the pod's root's, as the files are:
    // the host's root is nobody in the pod's user namespace, and the app's root could not write in them.
    // lchown: made by mkdir just now, never a link; and a link must not carry the chown elsewhere.
    for (const dir of made) await lchown(dir, owner, owner);
  }
  // hostPath has no link left in it. Replaced rather than written into: in a copied root (--no-overlay)
  // the image's file may be a hard link to another of its files.
  await rm(hostPath, { force: true });
  await writeFile(hostPath, content, { flag: 'wx', mode: 0o644 });
  if (owner !== 0) await chown(hostPath, owner, owner);
  return undefined;
}

/**
 * The directories above `hostPath` (free of links, below `root`) that do not exist yet, the deepest first:
 * what resolveInRoot will make for it.
 */
async function missingDirs(root: string, hostPath: string): Promise<string[]> {
  const out: string[] = [];
  for (let dir = dirname(hostPath); dir.length > root.length; dir = dirname(dir)) {
    if (await stat(dir).then(() => true, () => false)) break;
    out.push(dir);
  }
  return out;
}

/** What an app's /etc gets from run. */
export interface EtcContents {
  /** The pod's hostname, for /etc/hostname (and the /etc/hosts of an image without one). */
  readonly hostname: string;
  /** /etc/hosts in place of the image's (`--hosts-entry`, dnsContents); without it, one only for an image that has none. */
  readonly hosts?: string;
  /** /etc/resolv.conf in place of the image's (`--dns`, dnsContents); without it, the image's own is left alone. */
  readonly resolvConf?: string;
  /**
   * The host's ID of the pod's root (`--private-users`): the files, and the directories made for them (the /etc
   * of an image without one), are made its, as the pod's own root would have made them (otherwise the pod would
   * see them owned by no one it knows, and its root could not rewrite them in place or add a file beside
   * them). 0 (the default): the host's root.
   */
  readonly owner?: number;
}

/**
 * /etc/hostname always (the pod's name), /etc/hosts when the image has none, as rkt's stage1 did, and the
 * /etc/hosts and /etc/resolv.conf that rkt's DNS flags ask for in place of the image's; none into a volume.
 * Returns what it left to the app's unit to bind, and a note for each file left alone, for --debug; throws
 * one line naming the app and the path when a file it must write cannot be.
 */
export async function writeEtcFiles(rootfs: string, app: string, contents: EtcContents, mounts: ReadonlySet<string> = mountPoints()): Promise<EtcFiles> {
  return writeFiles(
    rootfs,
    app,
    [
      ['/etc/hostname', `${contents.hostname}\n`, false],
      contents.hosts !== undefined ? ['/etc/hosts', contents.hosts, false] : ['/etc/hosts', hostsFile(contents.hostname), true],
      ...(contents.resolvConf !== undefined ? [['/etc/resolv.conf', contents.resolvConf, false] as const] : []),
    ],
    contents.owner ?? 0,
    mounts,
  );
}

/**
 * /etc/resolv.conf alone, as writeEtcFiles writes it: a network's DNS, known only once the pod's CNI networks
 * are set up, which run does after it has checked every app and written the rest of their files (writeEtcFiles
 * can refuse the pod, and a refused pod must not have taken a lease or run a plugin first).
 */
export async function writeResolvConf(rootfs: string, app: string, resolvConf: string, owner = 0, mounts: ReadonlySet<string> = mountPoints()): Promise<EtcFiles> {
  return writeFiles(rootfs, app, [['/etc/resolv.conf', resolvConf, false]], owner, mounts);
}

/**
 * Whether writeResolvConf could write an app's /etc/resolv.conf, decided before its content is known: run
 * asks it before the pod's CNI networks are set up when one of them will give DNS, so that an image where
 * the file cannot be written (it resolves to a directory, a link loop, a read-only file system) is refused
 * before any plugin runs. Writes nothing; throws writeResolvConf's line.
 */
export async function checkResolvConf(rootfs: string, app: string, mounts: ReadonlySet<string> = mountPoints()): Promise<void> {
  await placeInRoot(realpathSync(rootfs), app, '/etc/resolv.conf', mounts, false);
}

/** Each file (its path, its content, whether only an image without one gets it) through writeInRoot, in order. */
async function writeFiles(rootfs: string, app: string, files: ReadonlyArray<readonly [string, string, boolean]>, owner: number, mounts: ReadonlySet<string>): Promise<EtcFiles> {
  // mountinfo shows resolved paths.
  const root = realpathSync(rootfs);
  const out: EtcFiles = { notes: [], binds: [] };
  for (const [path, content, onlyIfMissing] of files) {
    const done = await writeInRoot(root, app, path, content, mounts, onlyIfMissing, owner);
    if (done === 'bind') out.binds.push({ path, content });
    else if (done !== undefined) out.notes.push(done.note);
  }
  return out;
}
