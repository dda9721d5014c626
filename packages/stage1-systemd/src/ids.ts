import { lstat, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resolveInRoot } from '@rkt/rootfs-overlay';

/**
 * An app's user or group as appc allows it: a number; a name in the app's own /etc/passwd or
 * /etc/group; or an absolute path in its root whose owner (or group) it is. Paths resolve as the app sees
 * them, through the image's links inside its root (`/etc -> /usr/etc`), never the host's. The path's last
 * component is not followed: the owner of a link itself is what the image says.
 */
export async function resolveId(rootfs: string, kind: 'user' | 'group', value: string | undefined, app: string): Promise<number> {
  const v = value ?? '0';
  if (/^[0-9]+$/.test(v)) return Number(v);
  if (v.startsWith('/')) {
    const name = basename(v);
    const whole = name === '' || name === '.' || name === '..' || v.endsWith('/');
    let uid: number;
    let gid: number;
    try {
      if (whole) {
        const { hostPath } = await resolveInRoot(rootfs, v);
        ({ uid, gid } = await lstat(hostPath));
      } else {
        const { hostPath } = await resolveInRoot(rootfs, dirname(v));
        ({ uid, gid } = await lstat(join(hostPath, name)));
      }
    } catch {
      throw new Error(`app ${app}: ${kind} ${v} is a path and there is no such file in its root filesystem`);
    }
    return kind === 'user' ? uid : gid;
  }
  const file = kind === 'user' ? 'passwd' : 'group';
  let text: string;
  try {
    const found = await resolveInRoot(rootfs, `/etc/${file}`);
    text = await readFile(found.hostPath, 'utf8');
  } catch {
    throw new Error(`app ${app}: ${kind} ${v} is a name and its root filesystem has no /etc/${file}`);
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === v && f[2] !== undefined && /^[0-9]+$/.test(f[2])) return Number(f[2]);
  }
  throw new Error(`app ${app}: no ${kind} ${v} in /etc/${file} of its root filesystem`);
}
