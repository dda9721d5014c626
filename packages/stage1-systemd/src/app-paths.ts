import { stat } from 'node:fs/promises';
import { resolveInRoot } from '@rkt/rootfs-overlay';

/**
 * Refuses, before the pod boots, an app whose executable or working directory its root filesystem lacks, in
 * one line naming the app and the path, as fly does. systemd would only fail the app's unit: an exec it
 * cannot run ends the app with status 203 and no word on rkt's terminal, and a working directory it cannot
 * enter (200/CHDIR) fails the app's status recorder too, which runs in the same unit and so in the same
 * directory: no status, no halt, a pod that never ended. Paths resolve as the app will see them, through the
 * image's own symlinks, never the host's. Whether the app's user may run or enter them is left to the run.
 */
export async function checkAppPaths(rootfs: string, app: string, exec: readonly string[], workingDirectory: string): Promise<void> {
  const file = exec[0];
  if (file !== undefined && file.startsWith('/')) {
    const found = await resolveInRoot(rootfs, file).catch(() => undefined);
    if (found === undefined) throw new Error(`app ${app}: cannot execute ${file}: no such file in its root filesystem`);
    if (found.kind !== 'file') throw new Error(`app ${app}: cannot execute ${file}: not a regular file`);
    if (((await stat(found.hostPath)).mode & 0o111) === 0) throw new Error(`app ${app}: cannot execute ${file}: not executable`);
  }
  const dir = await resolveInRoot(rootfs, workingDirectory).catch(() => undefined);
  if (dir === undefined) throw new Error(`app ${app}: working directory ${workingDirectory}: no such directory in its root filesystem`);
  if (dir.kind !== 'dir') throw new Error(`app ${app}: working directory ${workingDirectory}: not a directory`);
}
