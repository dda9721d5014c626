import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Volume } from '@rkt/appc-spec/lean';
import { bindMount, resolveInRoot } from '@rkt/rootfs-overlay';
import { PodError } from './errors.js';
import { POD_FILES } from './layout.js';
import type { AppMount } from './volumes.js';

/**
 * Creates the pod's empty volumes in the pod directory with their mode, owner and group (chmod after
 * mkdir: the umask must not narrow the mode asked for); for a pod in a user namespace (`--private-users`), its
 * owner and group as the pod sees them, the host's IDs shifted by `shift`.
 */
export async function createEmptyVolumes(podDir: string, volumes: readonly Volume[], shift = 0): Promise<void> {
  const empty = volumes.filter((v) => v.kind === 'empty');
  if (empty.length === 0) return;
  await mkdir(join(podDir, 'volumes'), { mode: 0o755 });
  for (const v of empty) {
    const dir = join(podDir, POD_FILES.volume(v.name));
    await mkdir(dir);
    await chmod(dir, Number.parseInt(v.mode ?? '0755', 8));
    await chown(dir, shift + (v.uid ?? 0), shift + (v.gid ?? 0));
  }
}

/**
 * Mounts an app's volumes into its rootfs (already set up at `rootfs`), in the host's mount namespace
 * before the stage1 starts, so that every stage1 finds them in place: fly's private namespace copies
 * them, and systemd-nspawn's bind of the app's rootfs is recursive. Each target is resolved inside the
 * rootfs (`resolveInRoot`), never on the host, and created as a directory or a file after its source.
 * Everything mounted lies under the pod directory, where gc unmounts it before removing anything.
 */
export async function mountAppVolumes(podDir: string, app: string, rootfs: string, mounts: readonly AppMount[]): Promise<void> {
  for (const m of mounts) {
    const where = `app ${JSON.stringify(app)}: volume ${JSON.stringify(m.volume)} at ${m.target}`;
    const source = m.kind === 'host' ? (m.source as string) : join(podDir, POD_FILES.volume(m.volume));
    const st = await stat(source).catch((err: NodeJS.ErrnoException) => {
      throw new PodError('POD_VOLUME', `${where}: source ${source}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, { subject: source, cause: err });
    });
    try {
      const { hostPath } = await resolveInRoot(rootfs, m.target, { create: st.isDirectory() ? 'dir' : 'file' });
      await bindMount({ source, target: hostPath, readOnly: m.readOnly, recursive: m.recursive });
    } catch (err) {
      throw new PodError('POD_VOLUME', `${where}: ${(err as Error).message}`, { subject: app, cause: err });
    }
  }
}
