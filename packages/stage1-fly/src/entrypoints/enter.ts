import { spawnSync } from 'node:child_process';
import { DEFAULT_PATH } from '../constants.js';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * `coreos.com/rkt/stage1/enter`: `--pid=PID --appname=NAME -- CMD [ARG...]`. The app of a fly pod
 * is chrooted in its own mount namespace: nsenter joins that namespace and root, as rkt's enter did.
 */
function main(): number {
  const { options, afterDash } = parseEntrypointArgs(process.argv.slice(2));
  const pid = options.get('pid');
  if (pid === undefined || !/^[0-9]+$/.test(pid)) throw new Error('--pid=PID is required');
  const cmd = afterDash.length > 0 ? afterDash : ['/bin/sh'];
  const r = spawnSync('nsenter', [`--target=${pid}`, '--mount', '--root', '--wd', '--', ...cmd], {
    stdio: 'inherit',
    env: { PATH: DEFAULT_PATH, TERM: process.env.TERM ?? 'vt100' },
  });
  if (r.error) throw r.error;
  return r.status ?? 128 + 9;
}

try {
  process.exit(main());
} catch (err) {
  fail('enter', err);
}
