import { readFileSync } from 'node:fs';
import { podFiles } from '../pod-files.js';
import { fail, parseEntrypointArgs } from './args.js';

/** `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM, or SIGKILL with --force. */
function main(): void {
  const { options } = parseEntrypointArgs(process.argv.slice(2));
  const text = readFileSync(podFiles.pid(process.cwd()), 'utf8').trim();
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`invalid pid file content ${JSON.stringify(text)}`);
  try {
    process.kill(pid, options.get('force') === 'true' ? 'SIGKILL' : 'SIGTERM');
  } catch (err) {
    // ESRCH: the app is already gone, which is what stop asks for.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

try {
  main();
} catch (err) {
  fail('stop', err);
}
