import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An app's user or group as appc allows it: a number; a name in the app's own /etc/passwd or
 * /etc/group; or an absolute path in its root whose owner (or group) it is. A symlink is not followed:
 * it could point anywhere on the host, and the owner of the link itself is what the image says.
 */
export function resolveId(rootfs: string, kind: 'user' | 'group', value: string | undefined, app: string): number {
  const v = value ?? '0';
  if (/^[0-9]+$/.test(v)) return Number(v);
  if (v.startsWith('/')) {
    let st;
    try {
      st = lstatSync(join(rootfs, v));
    } catch {
      throw new Error(`app ${app}: ${kind} ${v} is a path and there is no such file in its root filesystem`);
    }
    return kind === 'user' ? st.uid : st.gid;
  }
  const file = kind === 'user' ? 'passwd' : 'group';
  let text: string;
  try {
    text = readFileSync(join(rootfs, 'etc', file), 'utf8');
  } catch {
    throw new Error(`app ${app}: ${kind} ${v} is a name and its root filesystem has no /etc/${file}`);
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === v && f[2] !== undefined && /^[0-9]+$/.test(f[2])) return Number(f[2]);
  }
  throw new Error(`app ${app}: no ${kind} ${v} in /etc/${file} of its root filesystem`);
}
