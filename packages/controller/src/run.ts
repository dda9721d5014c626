import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { mountAppRootfs } from '@rkt/rootfs-overlay';
import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { isErrno, syncDir, writeFileAtomic } from './fsutil.js';
import { readPodInfo } from './info.js';
import { tryLockDir, unlock } from './lock.js';
import { POD_FILES, podPath, podsDir } from './layout.js';
import { stage1Entrypoint } from './stage1.js';
import { mountAppVolumes } from './mount-volumes.js';

export interface RunOptions {
  readonly dataDir: string;
  /** The full UUID of a prepared pod. */
  readonly uuid: string;
  /** The lock `preparePod({keepLock})` returned; without it the pod is locked here (`run-prepared`). */
  readonly lockFd?: number;
  readonly interactive?: boolean;
  /** The pod's hostname (`--hostname`); the stage1's default (rkt's: `rkt-UUID`) otherwise. */
  readonly hostname?: string;
  readonly debug?: boolean;
  readonly localConfigDir?: string;
  /** `--insecure-options=capabilities,paths,seccomp`: rkt's defaults the stage1 leaves off (its --disable-* flags). */
  readonly insecure?: { readonly capabilities?: boolean; readonly paths?: boolean; readonly seccomp?: boolean };
  readonly bus?: EventBus;
  readonly log?: (message: string) => void;
  /**
   * For the process that is the pod to its user (`rkt run`): SIGTERM and SIGHUP are passed on to
   * the stage1, and SIGINT (which a terminal sends the whole process group, the app included) is
   * left to the app, so this process outlives the pod and reports its status.
   */
  readonly forwardSignals?: boolean;
}

/**
 * Runs a prepared pod: locks it (exactly one of several concurrent callers wins: the lock, then
 * the rename out of `prepared/`, arbitrate), moves it to `run/`, sets up each app's rootfs and
 * starts the stage1 run entrypoint in the pod directory with the lock as RKT_LOCK_FD. Resolves
 * with the stage1's exit status, which for a one-app stage1 such as fly is the app's.
 */
export async function runPod(o: RunOptions): Promise<number> {
  const prepared = podPath(o.dataDir, 'prepared', o.uuid);
  const fd = o.lockFd ?? tryLockDir(prepared);
  if (fd === undefined) {
    throw new PodError('POD_LOCKED', `pod ${o.uuid} is not prepared, or another rkt is running it`, { subject: o.uuid });
  }
  const dir = podPath(o.dataDir, 'run', o.uuid);
  let handedOver = false;
  try {
    try {
      await rename(prepared, dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        throw new PodError('POD_STATE', `pod ${o.uuid} is no longer prepared: another rkt ran or removed it`, { subject: o.uuid });
      }
      throw err;
    }
    await syncDir(join(podsDir(o.dataDir), 'run'));
    const info = await readPodInfo(dir);
    for (const app of info.apps) {
      const { mode } = await mountAppRootfs({
        lower: app.lower,
        target: join(dir, POD_FILES.appRootfs(app.name)),
        upper: join(dir, POD_FILES.appUpper(app.name)),
        work: join(dir, POD_FILES.appWork(app.name)),
        mode: info.rootfsMode,
        dataDir: o.dataDir,
        ...(o.log ? { debug: o.log } : {}),
      });
      o.log?.(`app ${app.name}: rootfs set up (${mode})`);
      if (app.mounts !== undefined && app.mounts.length > 0) {
        await mountAppVolumes(dir, app.name, join(dir, POD_FILES.appRootfs(app.name)), app.mounts);
        o.log?.(`app ${app.name}: ${app.mounts.length} volume mount(s) set up`);
      }
    }
    const entry = stage1Entrypoint(dir, 'run');
    if (entry === undefined) throw new PodError('POD_STAGE1', `the stage1 of pod ${o.uuid} has no run entrypoint`, { subject: o.uuid });
    const args = [
      ...(o.debug ? ['--debug'] : []),
      ...(o.interactive ? ['--interactive'] : []),
      ...(o.hostname !== undefined ? [`--hostname=${o.hostname}`] : []),
      ...(info.inheritEnv ? ['--inherit-env'] : []),
      ...(o.localConfigDir ? [`--local-config=${o.localConfigDir}`] : []),
      ...(o.insecure?.capabilities ? ['--disable-capabilities-restriction'] : []),
      ...(o.insecure?.paths ? ['--disable-paths'] : []),
      ...(o.insecure?.seccomp ? ['--disable-seccomp'] : []),
      o.uuid,
    ];
    await writeFileAtomic(join(dir, POD_FILES.started), `${new Date().toISOString()}\n`);
    o.log?.(`starting stage1: ${entry} ${args.join(' ')}`);
    const child = spawn(entry, args, {
      cwd: dir,
      env: { ...process.env, RKT_LOCK_FD: '3' },
      stdio: ['inherit', 'inherit', 'inherit', fd],
    });
    // Listened to at once: a short-lived pod can exit before the code below runs.
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new PodError('POD_STAGE1', `cannot start the stage1 run entrypoint ${entry}: ${err.message}`, { subject: o.uuid, cause: err })),
      );
    });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    const ignore = (): void => {};
    if (o.forwardSignals) {
      process.on('SIGTERM', forward);
      process.on('SIGHUP', forward);
      process.on('SIGINT', ignore);
      child.once('exit', () => {
        process.off('SIGTERM', forward);
        process.off('SIGHUP', forward);
        process.off('SIGINT', ignore);
      });
    }
    // The stage1 holds the lock now (its fd 3 shares our open description); our copy can go.
    handedOver = true;
    unlock(fd);
    o.bus?.publish(podEvent('pod/running', o.uuid, { stage1Pid: child.pid }));
    for (const app of info.apps) o.bus?.publish(podEvent('app/started', o.uuid, { app: app.name, image: app.imageName }));

    const status = await exited;
    for (const app of info.apps) {
      let exit: number | undefined;
      try {
        const text = readFileSync(join(dir, POD_FILES.appExit(app.name)), 'utf8').trim();
        exit = /^[0-9]+$/.test(text) ? Number(text) : undefined;
      } catch {
        exit = undefined;
      }
      o.bus?.publish(podEvent('app/exited', o.uuid, { app: app.name, ...(exit !== undefined ? { exitStatus: exit } : {}) }));
    }
    o.bus?.publish(podEvent('pod/exited', o.uuid, { exitStatus: status }));
    return status;
  } finally {
    // Whatever failed before stage1 got the lock leaves an exited pod, which gc removes.
    if (!handedOver) unlock(fd);
  }
}
