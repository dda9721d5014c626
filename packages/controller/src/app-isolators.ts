import type { App } from '@rkt/appc-spec/lean';
import { ERRNO_NAMES } from './errno-names.js';
import { PodError } from './errors.js';

/**
 * What the runtime refuses of an app's isolators (the image's, or the pod manifest's), at prepare: the
 * appc schemas take any upper-case `E...` as a seccomp set's errno, and a name no stage1 can map would
 * otherwise fail the run inside the stage1, after the pod was prepared.
 */
export function checkAppIsolators(appName: string, app: App): void {
  for (const iso of app.isolators ?? []) {
    if (iso.name !== 'os/linux/seccomp-retain-set' && iso.name !== 'os/linux/seccomp-remove-set') continue;
    const errno = (iso.value as { errno?: unknown } | null)?.errno;
    if (typeof errno === 'string' && errno !== '' && !ERRNO_NAMES.has(errno)) {
      throw new PodError('POD_APP', `app ${JSON.stringify(appName)}: isolator ${iso.name}: unknown errno ${JSON.stringify(errno)}`, { subject: appName });
    }
  }
}
