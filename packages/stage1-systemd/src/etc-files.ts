import { lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The pod's hostname when `--hostname` gives none, as rkt named it: its machine name. */
export function defaultHostname(uuid: string): string {
  return `rkt-${uuid}`;
}

/** /etc/hosts for an image that brings none: localhost and the pod's hostname on the loopback. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost localhost.localdomain ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback ${hostname}\n`;
}

/**
 * Writes a file into an app's root filesystem (its per-pod copy or overlay) without following a symlink
 * the image may have put on the way: `/etc` must be a real directory, and a link at the file's place is
 * replaced, never written through (an absolute link would point into the host).
 */
function writeInRoot(rootfs: string, rel: string, content: string): void {
  const etc = join(rootfs, 'etc');
  try {
    if (!lstatSync(etc).isDirectory()) throw new Error(`/etc of the app is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(etc, { mode: 0o755 });
  }
  const path = join(rootfs, rel);
  rmSync(path, { force: true });
  writeFileSync(path, content, { flag: 'wx', mode: 0o644 });
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
 * Where `rel` (`etc/hostname`) or one of its parents below the app's root is a mount point: a volume stage0
 * mounted there (on the host, before the stage1 runs), undefined when none is. The file is then the
 * volume's: `--volume=e,kind=host,source=/etc --mount=volume=e,target=/etc` must not have the host's own
 * /etc/hostname replaced, and a read-only or single-file volume cannot be written anyway (EROFS, EBUSY).
 * mountinfo rather than st_dev: a bind mount from the filesystem the root is on has the same device.
 */
function volumeAt(root: string, rel: string, mounts: ReadonlySet<string>): string | undefined {
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const target = `/${parts.slice(0, i).join('/')}`;
    if (mounts.has(join(root, target))) return target;
  }
  return undefined;
}

/**
 * /etc/hostname always (the pod's name), /etc/hosts when the image has none, as rkt's stage1 did; neither
 * into a volume. Returns a note for each file left alone so, for --debug.
 */
export function writeEtcFiles(rootfs: string, hostname: string, mounts: ReadonlySet<string> = mountPoints()): string[] {
  // mountinfo shows resolved paths.
  const root = realpathSync(rootfs);
  const notes: string[] = [];
  const write = (rel: string, content: string): void => {
    const volume = volumeAt(root, rel, mounts);
    if (volume === undefined) writeInRoot(root, rel, content);
    else notes.push(`/${rel} not written: a volume is mounted at ${volume}`);
  };
  write('etc/hostname', `${hostname}\n`);
  if (!existsNoFollow(join(root, 'etc', 'hosts'))) write('etc/hosts', hostsFile(hostname));
  return notes;
}
