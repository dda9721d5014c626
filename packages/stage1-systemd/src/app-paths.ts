import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { resolveInRoot } from '@rkt/rootfs-overlay';

/**
 * Where exec(3) looks for a bare name when the environment has no PATH: the working directory, then
 * confstr(_CS_PATH) (`/bin:/usr/bin` on glibc), as rkt's stage1 searched for an app without one.
 */
const NO_PATH_DIRS = ['/bin', '/usr/bin'] as const;

/**
 * The exec an app's unit runs, with every path resolved inside its root filesystem and checked, and its working
 * directory checked; one line naming the app and the path when either cannot work. systemd would only fail the
 * app's unit: an exec it cannot run ends the app with status 203 and no word on rkt's terminal, and a working
 * directory it cannot enter (200/CHDIR) fails the app's status recorder too, which runs in the same unit and so
 * in the same directory: no status, no halt, a pod that never ended. Paths resolve as the app will see them,
 * through the image's own symlinks, never the host's. Whether the app's user may run or enter them is left to
 * the run.
 *
 * The pod manifest may carry a relative exec (appc: a name without `/` is looked up in PATH; Docker images
 * mostly name theirs so): stage0 keeps it as given and the stage1 resolves it here, as rkt's stage1 did
 * (`findBinPath`), since only the stage1 sees the app's files as the app will. `path` is the PATH of the app's
 * manifest environment (the image's and the user's), not the default the stage1 adds, as in rkt.
 */
export async function checkAppPaths(rootfs: string, app: string, exec: readonly string[], workingDirectory: string, path?: string): Promise<string[]> {
  const [file, ...args] = exec;
  let program = file;
  if (file !== undefined && file.startsWith('/')) {
    await checkExecutable(rootfs, app, file, file);
  } else if (file !== undefined && file.includes('/')) {
    // rkt joined it with the working directory (filepath.Join: lexically, `..` included).
    program = posix.join(workingDirectory, file);
    await checkExecutable(rootfs, app, `${file} (${program})`, program);
  } else if (file !== undefined) {
    program = await searchPath(rootfs, app, file, workingDirectory, path);
  }
  const dir = await resolveInRoot(rootfs, workingDirectory).catch(() => undefined);
  if (dir === undefined) throw new Error(`app ${app}: working directory ${workingDirectory}: no such directory in its root filesystem`);
  if (dir.kind !== 'dir') throw new Error(`app ${app}: working directory ${workingDirectory}: not a directory`);
  return program === undefined ? [] : [program, ...args];
}

/** The path `inRoot` (absolute, lexically clean) of the app's root as a program it can run, or one line why not. */
async function checkExecutable(rootfs: string, app: string, shown: string, inRoot: string): Promise<void> {
  const found = await resolveInRoot(rootfs, inRoot).catch(() => undefined);
  if (found === undefined) throw new Error(`app ${app}: cannot execute ${shown}: no such file in its root filesystem`);
  if (found.kind !== 'file') throw new Error(`app ${app}: cannot execute ${shown}: not a regular file`);
  if (((await stat(found.hostPath)).mode & 0o111) === 0) throw new Error(`app ${app}: cannot execute ${shown}: not executable`);
}

/**
 * A bare name looked up as exec(3) would inside the app's root: in the directories of `path` (relative entries,
 * the empty one included, after the working directory), or without one in the working directory, /bin and
 * /usr/bin. The first candidate that resolves (links followed inside the root) to an executable regular file
 * wins, and the app runs that candidate's path, not where its links lead (`/bin/sh`, not `/bin/busybox`:
 * a multi-call binary reads its name from argv[0]). A candidate that cannot be resolved (a file where a
 * directory should be, a link loop) is skipped, as execvp skips it.
 */
async function searchPath(rootfs: string, app: string, name: string, workingDirectory: string, path: string | undefined): Promise<string> {
  const dirs = path !== undefined ? path.split(':') : [workingDirectory, ...NO_PATH_DIRS];
  for (const dir of dirs) {
    const candidate = posix.join(dir.startsWith('/') ? dir : posix.join(workingDirectory, dir), name);
    const found = await resolveInRoot(rootfs, candidate).catch(() => undefined);
    if (found?.kind !== 'file') continue;
    if (((await stat(found.hostPath)).mode & 0o111) !== 0) return candidate;
  }
  const where = path !== undefined ? `its PATH (${path})` : `${workingDirectory}, /bin or /usr/bin (its environment has no PATH)`;
  throw new Error(`app ${app}: cannot execute ${name}: not found in ${where} in its root filesystem`);
}
