import { readFileSync } from 'node:fs';
import type { App } from '@rkt/appc-spec/lean';
import { ERRNO_NAMES } from './errno-names.js';
import { PodError } from './errors.js';

/** CAP_SYS_RESOURCE (24) is in this process's capability bounding set, so in what any stage1 it starts can have. */
function boundingSetHasSysResource(): boolean {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m !== null && ((BigInt(`0x${m[1]}`) >> 24n) & 1n) === 1n;
}

/**
 * What the runtime refuses of an app's isolators (the image's, the pod manifest's, the flags'), at prepare,
 * where otherwise the run would fail inside the stage1 after the pod was prepared, or silently do less:
 * - a seccomp set's errno no stage1 can map (the appc schemas take any upper-case `E...`);
 * - a negative `os/linux/oom-score-adj` where the host cannot give CAP_SYS_RESOURCE: the kernel lets a process
 *   lower its score only with it, so fly's write fails and the pod's systemd drops `OOMScoreAdjust=` (the
 *   app ran with 0).
 */
export function checkAppIsolators(appName: string, app: App): void {
  for (const iso of app.isolators ?? []) {
    if (iso.name === 'os/linux/oom-score-adj' && typeof iso.value === 'number' && iso.value < 0 && !boundingSetHasSysResource()) {
      throw new PodError(
        'POD_APP',
        `app ${JSON.stringify(appName)}: isolator os/linux/oom-score-adj: ${iso.value} needs CAP_SYS_RESOURCE, which this host's capability bounding set does not have`,
        { subject: appName },
      );
    }
    if (iso.name !== 'os/linux/seccomp-retain-set' && iso.name !== 'os/linux/seccomp-remove-set') continue;
    const errno = (iso.value as { errno?: unknown } | null)?.errno;
    if (typeof errno === 'string' && errno !== '' && !ERRNO_NAMES.has(errno)) {
      throw new PodError('POD_APP', `app ${JSON.stringify(appName)}: isolator ${iso.name}: unknown errno ${JSON.stringify(errno)}`, { subject: appName });
    }
  }
}
