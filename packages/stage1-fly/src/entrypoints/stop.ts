import { stopPodProcesses } from '@rkt/controller/stage1-abi';
import { fail, parseEntrypointArgs } from './args.js';

/** `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM to the app, or SIGKILL with --force. */
try {
  stopPodProcesses(process.cwd(), parseEntrypointArgs(process.argv.slice(2)).options.get('force') === 'true');
} catch (err) {
  fail('stop', err);
}
