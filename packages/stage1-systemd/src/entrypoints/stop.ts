import { stopPodProcesses } from '@rkt/controller/stage1-abi';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM to systemd-nspawn (the
 * `ppid` file) makes it power the pod's systemd off: every app's unit is stopped (SIGTERM, then its
 * post-stop handlers). --force SIGKILLs the pod's PID 1, which takes down its whole pid namespace.
 */
try {
  stopPodProcesses(process.cwd(), parseEntrypointArgs(process.argv.slice(2)).options.get('force') === 'true');
} catch (err) {
  fail('stop', err);
}
