import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { App } from '@rkt/appc-spec';
import { flyExecArgs, FlyError, resolveExecSpec } from '../exec-spec.js';
import { writeFileAtomic } from '../fsutil.js';
import { podFiles } from '../pod-files.js';
import { readPodManifest } from '../pod-manifest.js';
import { fail, parseEntrypointArgs } from './args.js';

/**
 * `coreos.com/rkt/stage1/run` of fly. The working directory is the pod directory; RKT_LOCK_FD is
 * the pod's locked directory handle, which must stay open while the pod runs: it is handed to the
 * app too, so the pod shows as running exactly as long as its app lives.
 */
async function main(): Promise<number> {
  const { options } = parseEntrypointArgs(process.argv.slice(2));
  const pod = process.cwd();
  const lockFd = Number(process.env.RKT_LOCK_FD);
  if (!Number.isInteger(lockFd) || lockFd < 0) throw new FlyError('FLY_BAD_POD', 'RKT_LOCK_FD is not set to the pod lock');

  const manifest = readPodManifest(readFileSync(podFiles.manifest(pod), 'utf8'), podFiles.manifest(pod));
  if (manifest.apps.length !== 1) {
    throw new FlyError('FLY_BAD_POD', `fly runs exactly one app per pod; this pod has ${manifest.apps.length}`);
  }
  const runtimeApp = manifest.apps[0]!;
  // Stage0 reifies the pod manifest with each app's full app section (image defaults plus overrides).
  const app: App | undefined = runtimeApp.app;
  if (app === undefined) throw new FlyError('FLY_EXEC', `app ${JSON.stringify(runtimeApp.name)} has no app section in the pod manifest`);

  let inherited: Record<string, string> | undefined;
  if (options.get('inherit-env') === 'true') {
    inherited = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'RKT_LOCK_FD') inherited[k] = v;
  }
  const spec = resolveExecSpec({
    rootfs: podFiles.appRootfs(pod, runtimeApp.name),
    appName: runtimeApp.name,
    app,
    ...(inherited ? { inherited } : {}),
  });

  const helper = join(dirname(process.argv[1] as string), 'fly-exec');
  const child = spawn(helper, flyExecArgs(spec), {
    env: spec.env,
    // Standard input reaches the app only with --interactive, as the stage1 interface says; fd 3
    // of the app is the pod lock (the same open description as RKT_LOCK_FD, so the same lock).
    stdio: [options.get('interactive') === 'true' ? 'inherit' : 'ignore', 'inherit', 'inherit', lockFd],
  });
  // Terminal signals (SIGINT, SIGQUIT) reach the whole process group, the app included: the app
  // decides what they mean, and this process must outlive it to record its status. SIGTERM and
  // SIGHUP sent to the pod (stage0 forwards them) are the app's to handle too.
  for (const sig of ['SIGINT', 'SIGQUIT'] as const) process.on(sig, () => {});
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));

  // Listened to at once: a short-lived app can exit before the pid file is written.
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await writeFileAtomic(podFiles.pid(pod), `${child.pid}\n`);

  // stage0 waits for this process as rkt's process was the pod: when stage0 is killed, the pod
  // goes with it (fly-exec's parent-death signal then takes the app).
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) child.kill('SIGKILL');
  }, 200);

  const status = await exited;
  clearInterval(watch);
  await writeFileAtomic(podFiles.appExit(pod, runtimeApp.name), `${status}\n`);
  return status;
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('run', err),
);
