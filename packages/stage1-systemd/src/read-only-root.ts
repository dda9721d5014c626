import { readFileSync, realpathSync } from 'node:fs';
import { quote } from './units.js';

/**
 * The `[Service]` lines of an app whose runtime app asks for `readOnlyRootFS` (rkt run's `--readonly-rootfs`),
 * as rkt's stage1 made them: the app's root read-only (`ReadOnlyPaths=`), except the volumes mounted writable
 * in it (`ReadWritePaths=`, one for each mount below the root that is `rw`). systemd's read-only remount of
 * the root is recursive but leaves alone every path the unit names otherwise (the writable volumes, and
 * /proc, /sys and /dev of MountAPIVFS=). The volumes are those stage0 mounted below the app's rootfs on the
 * host before the stage1 started, read from mountinfo where their targets appear resolved inside the root
 * (the image's links followed), as the unit's "+" paths, relative to RootDirectory=, need them.
 */
export function readOnlyRootLines(rootfs: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const root = realpathSync.native(rootfs);
  const writable = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const at = fields[4];
    const options = fields[5];
    if (at === undefined || options === undefined) continue;
    const path = at.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path.startsWith(`${root}/`) && options.split(',').includes('rw')) writable.add(path.slice(root.length));
  }
  // "-": a volume mounted over by another one is not there to find; "+": inside RootDirectory=.
  return [...[...writable].map((p) => `ReadWritePaths=${quote(`-+${p}`, false)}`), 'ReadOnlyPaths=+/'];
}
