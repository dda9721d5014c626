import { lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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

/** /etc/hostname always (the pod's name), /etc/hosts when the image has none, as rkt's stage1 did. */
export function writeEtcFiles(rootfs: string, hostname: string): void {
  writeInRoot(rootfs, 'etc/hostname', `${hostname}\n`);
  if (!existsNoFollow(join(rootfs, 'etc', 'hosts'))) writeInRoot(rootfs, 'etc/hosts', hostsFile(hostname));
}
