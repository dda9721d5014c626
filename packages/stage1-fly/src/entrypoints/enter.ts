import { enterProcess } from '@rkt/controller/stage1-abi';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * `coreos.com/rkt/stage1/enter`: `--pid=PID --appname=NAME -- CMD [ARG...]`, in the pod directory. A fly
 * pod is its one app, so PID is the app's process: CMD joins its mount namespace (the host's others),
 * root, working directory and environment.
 */
async function main(): Promise<number> {
  const { options, afterDash } = parseEntrypointArgs(process.argv.slice(2));
  const pid = options.get('pid');
  if (pid === undefined || !/^[0-9]+$/.test(pid)) throw new Error('usage: enter --pid=PID --appname=NAME -- CMD [ARG...]');
  return enterProcess(Number(pid), afterDash);
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('enter', err),
);
