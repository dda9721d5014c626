import { readFileSync } from 'node:fs';
import { childrenOf, enterProcess } from '@rkt/controller/stage1-abi';
import { appUnitName } from '../units.js';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * The main process of an app: the child of the pod's systemd (PID) that runs in the app's service
 * cgroup. Each app's unit has a mount namespace of its own (RootDirectory= with MountAPIVFS=), so
 * entering the app means joining that process, not the pod's PID 1.
 */
function appMainProcess(pid1: number, app: string): number {
  const suffix = `/${appUnitName(app)}`;
  for (const child of childrenOf(pid1)) {
    let cgroups: string;
    try {
      cgroups = readFileSync(`/proc/${child}/cgroup`, 'utf8');
    } catch {
      continue; // Exited meanwhile.
    }
    if (cgroups.split('\n').some((line) => line.endsWith(suffix))) return child;
  }
  throw new Error(`app ${JSON.stringify(app)} is not running in the pod (no process in ${appUnitName(app)})`);
}

/**
 * `coreos.com/rkt/stage1/enter`: `--pid=PID --appname=NAME -- CMD [ARG...]`, in the pod directory, PID
 * being the pod's PID 1 (systemd). CMD runs in the app's namespaces (the pod's pid, uts, ipc and network
 * ones and the app's own mount namespace), root, working directory and environment.
 */
async function main(): Promise<number> {
  const { options, afterDash } = parseEntrypointArgs(process.argv.slice(2));
  const pid = options.get('pid');
  const app = options.get('appname');
  if (pid === undefined || !/^[0-9]+$/.test(pid) || app === undefined || app === '') {
    throw new Error('usage: enter --pid=PID --appname=NAME -- CMD [ARG...]');
  }
  return enterProcess(appMainProcess(Number(pid), app), afterDash);
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('enter', err),
);
