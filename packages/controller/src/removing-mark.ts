import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodError } from './errors.js';
import { isErrno } from './fsutil.js';
import { POD_FILES, type StateDir } from './layout.js';

/**
 * In `run/` and `prepare/` a held lock says the pod is running (being prepared): its runner (preparer) took it
 * before the pod came there and holds it to its end. rm and gc take it too, to move an exited pod (an aborted
 * prepare) out, and for that moment the pod looked running to `rkt list`, `status` (`--wait-ready` returned it
 * as running), `stop` and another rm. So they leave this mark first: the lock of a marked pod is a remover's.
 *
 * A remover marks only a pod it found unlocked there, which nobody but a remover locks again (a pod's lock is
 * never taken back by its own processes), so a running pod never bears the mark, and one left by a remover
 * killed before its move says nothing wrong: the pod is exited, and the next remover marks it anew.
 */
export function markRemoving(podDir: string, uuid: string): void {
  try {
    writeFileSync(join(podDir, POD_FILES.removing), '');
  } catch (err) {
    // Moved or removed meanwhile by another rkt: its caller looks for it again.
    if (isErrno(err, 'ENOENT')) throw new PodError('POD_STATE', `pod ${uuid} moved meanwhile`, { subject: uuid, cause: err });
    throw new PodError('POD_IO', `cannot mark pod ${uuid} for removal: ${(err as Error).message}`, { subject: uuid, cause: err });
  }
}

/**
 * Whether the lock of a pod, found held in `stateDir`, is its runner's or preparer's rather than a remover's;
 * undefined when the pod has left `podDir` meanwhile. Ask after finding the lock held: a remover's lock comes
 * after its mark, so a pod still there without the mark is held by its own processes.
 */
export function heldByPod(stateDir: StateDir, podDir: string): boolean | undefined {
  if (stateDir !== 'run' && stateDir !== 'prepare') return true;
  if (existsSync(join(podDir, POD_FILES.removing))) return false;
  // Not there: moved by its remover, whose mark went with it, after the lock was seen.
  return existsSync(podDir) ? true : undefined;
}
