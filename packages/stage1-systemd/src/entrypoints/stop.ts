import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM to systemd-nspawn (the
 * `ppid` file) makes it shut the pod's systemd down cleanly; --force SIGKILLs the pod's PID 1 (nspawn's
 * child), which takes down its whole pid namespace.
 */
function main(): void {
  const { options } = parseEntrypointArgs(process.argv.slice(2));
  const text = readFileSync(join(process.cwd(), 'ppid'), 'utf8').trim();
  const ppid = Number(text);
  if (!Number.isInteger(ppid) || ppid <= 1) throw new Error(`invalid ppid file content ${JSON.stringify(text)}`);
  let target = ppid;
  if (options.get('force') === 'true') {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '');
    } catch {
      return; // nspawn is gone: so is the pod.
    }
    target = children.length > 0 ? Number(children[0]) : ppid;
  }
  try {
    process.kill(target, options.get('force') === 'true' ? 'SIGKILL' : 'SIGTERM');
  } catch (err) {
    // ESRCH: the pod is already gone, which is what stop asks for.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

try {
  main();
} catch (err) {
  fail('stop', err);
}
