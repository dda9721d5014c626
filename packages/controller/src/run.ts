import { rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mountAppRootfs } from '@rkt/rootfs-overlay';
import { execProcess, idmapBind, listenUnix, mount, openPty, pipe, ptyResize, spawnProcess, sysAvailable } from '@rkt/rootfs-overlay/sys';
import { readAppExit, watchAppExits, watchMutableAppExits } from './app-exits.js';
import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { isErrno, stageFile, syncDir, writeFileAtomic, type StagedFile } from './fsutil.js';
import { readPodInfo } from './info.js';
import { appLower, relinkMovedStage1 } from './data-dir-paths.js';
import { lockDirAt, unlock } from './lock.js';
import { POD_FILES, podPath, podsDir } from './layout.js';
import { checkNetWithPrivateUsers, checkPodStage1, DNS_CONF_MODE_INTERFACE_VERSION, HOSTNAME_INTERFACE_VERSION, INSECURE_OPTIONS_INTERFACE_VERSION, MUTABLE_INTERFACE_VERSION, RUN_EXEC_ENV, stage1RunEntrypoints, type Stage1RunModule, type Stage1RunModuleRef } from './stage1.js';
import { dnsConfForStage1, podDnsConfProblem, type PodDnsConf } from './dns-conf.js';
import { formatDnsConfMode } from './stage1-abi/dns-conf-mode.js';
import { loadRunModule, runModuleInPodDir } from './run-module.js';
import { mountAppVolumes } from './mount-volumes.js';
import { checkPodPortsNet } from './ports-net.js';
import { isoNow } from './time.js';

export interface RunOptions {
  readonly dataDir: string;
  /** The full UUID of a prepared pod. */
  readonly uuid: string;
  /** The lock `preparePod({keepLock})` returned; without it the pod is locked here (`run-prepared`). */
  readonly lockFd?: number;
  /** What `preparePod({keepLock})` left pending (`PreparedPod.pending`): waited for before the stage1 starts. */
  readonly pending?: Promise<unknown>;
  readonly interactive?: boolean;
  /** The pod's hostname (`--hostname`); the stage1's default (rkt's: `rkt-UUID`) otherwise. */
  readonly hostname?: string;
  /**
   * rkt's `--net`: `none` asks the stage1 for a network namespace of the pod's own with only its loopback
   * (`--net=none`, an argument of every interface version, as rkt passed it), of a stage1 that says it can
   * (`rkt-ts.dev/stage1/net-none`; another is refused, the pod left prepared); rkt's list of CNI networks
   * (`default,mynet:IP=10.1.0.9`, checked by the caller) goes as `--net=LIST` to a stage1 that says it sets
   * them up (`rkt-ts.dev/stage1/cni-networks`, likewise); absent or `host`, the host's network, and nothing is
   * passed.
   */
  readonly net?: string;
  readonly debug?: boolean;
  readonly localConfigDir?: string;
  /**
   * rkt run's DNS flags: each app's /etc/resolv.conf and /etc/hosts (absent: the stage1's default, what it
   * does without them). Passed to a stage1 of interface version 4 or later (`--dns-conf-mode`, and the files
   * generated in the pod directory); an older one gets nothing of it, and `warn` says so.
   */
  readonly dns?: PodDnsConf;
  /** `--insecure-options=capabilities,paths,seccomp`: rkt's defaults the stage1 leaves off (its --disable-* flags). */
  readonly insecure?: { readonly capabilities?: boolean; readonly paths?: boolean; readonly seccomp?: boolean };
  readonly bus?: EventBus;
  readonly log?: (message: string) => void;
  /** What the user should hear of even without --debug (a DNS configuration the pod's stage1 cannot take). */
  readonly warn?: (message: string) => void;
  /**
   * For the process that is the pod to its user (`rkt run`): SIGTERM and SIGHUP are passed on to
   * the stage1, and SIGINT (which a terminal sends the whole process group, the app included) is
   * left to the app, so this process outlives the pod and reports its status. A stage1's run module
   * runs in this process only then, owning those signals for the pod's life.
   */
  readonly forwardSignals?: boolean;
  /**
   * Replace this process with the stage1's run executable, as rkt's stage0 did, where the pod's stage1 allows
   * it (`rkt-ts.dev/stage1/run-exec`) and no run module runs here instead: the executable is then the pod to
   * its user, with this process's pid, and `runPod` never returns. Nothing of this process runs afterwards, so
   * there are no `app/exited` and `pod/exited` events: for a caller whose events have no subscriber (`rkt
   * run` without --debug). `beforeExec` is called right before, for what this process would do at its exit;
   * when it returns false the stage1 is started as a child instead (this process has something left to do).
   */
  readonly exec?: { readonly beforeExec?: () => boolean };
  /**
   * rkt's `rkt app sandbox`: the pod is mutable (prepared with `mutable`), and its run entrypoint gets `--mutable`
   * (interface version 5): it stays up without apps, and apps come and go through the app entrypoints.
   */
  readonly mutable?: boolean;
  /** How the stage1's run module is loaded (a code-caching loader); Node's require otherwise. */
  readonly requireModule?: (path: string) => unknown;
}

/**
 * The run entrypoint's arguments for what the user asked with `flag`, when the pod's stage1 takes them (its
 * interface version is `since` or later); none otherwise, and a warning line, as rkt's stage0 warned of a
 * --hostname its stage1 could not take, and the pod runs. (rkt dropped the --disable-* arguments of
 * --insecure-options without a word: said here too, since the user asked for them.)
 */
function versioned(o: RunOptions, interfaceVersion: number, since: number, args: readonly string[], asked: string): readonly string[] {
  if (args.length === 0 || interfaceVersion >= since) return args;
  o.warn?.(`warning: the stage1 of pod ${o.uuid} has interface version ${interfaceVersion}, which does not take ${args.join(', ')} (version ${since}): ${asked} is ignored`);
  return [];
}

/** The run entrypoint's argument for each of rkt's defaults `--insecure-options` leaves off (interface version 3). */
const INSECURE_ARGS = { capabilities: '--disable-capabilities-restriction', paths: '--disable-paths', seccomp: '--disable-seccomp' } as const;

/**
 * Runs a prepared pod: locks it (exactly one of several concurrent callers wins: the lock, then
 * the rename out of `prepared/`, arbitrate), moves it to `run/`, sets up each app's rootfs and
 * starts the stage1 run entrypoint in the pod directory with the lock as RKT_LOCK_FD, or, for the
 * process that is the pod to its user (`forwardSignals`) and a stage1 with a run module, runs that
 * module in this process, holding the lock itself (rkt's exec of the run entrypoint); with `exec`, and a
 * stage1 that allows it, this process becomes the run executable. Resolves with the stage1's exit status,
 * which for a one-app stage1 such as fly is the app's.
 */
export async function runPod(o: RunOptions): Promise<number> {
  // Before the pod is touched: a value that would add lines of its own to the files leaves it prepared.
  const dnsWrong = o.dns !== undefined ? podDnsConfProblem(o.dns) : undefined;
  if (dnsWrong !== undefined) throw new PodError('POD_DNS', `pod ${o.uuid}: DNS configuration: ${dnsWrong}`, { subject: o.uuid });
  const prepared = podPath(o.dataDir, 'prepared', o.uuid);
  const fd = o.lockFd ?? lockDirAt(prepared);
  if (fd === 'busy') throw new PodError('POD_LOCKED', `pod ${o.uuid} is not prepared, or another rkt is running it`, { subject: o.uuid });
  if (fd === 'gone') throw new PodError('POD_STATE', `pod ${o.uuid} is no longer prepared: another rkt ran or removed it`, { subject: o.uuid });
  const dir = podPath(o.dataDir, 'run', o.uuid);
  let handedOver = false;
  // The pod's `started`, written and synced as its rootfs is set up and named once that is done: removed here
  // when the pod fails before.
  let staged: StagedFile | undefined;
  let placed = false;
  try {
    // Still in prepared/: a stage1 this stage0 does not drive leaves the pod there.
    const stage1Annotations = checkPodStage1(prepared, o.uuid, o.net);
    const info = await readPodInfo(prepared);
    // A pod in a user namespace, of a stage1 that cannot run one (prepared by another rkt-ts): left there too.
    if (info.privateUsers !== undefined) checkPodStage1(prepared, o.uuid, o.net, true);
    checkNetWithPrivateUsers(o.net, info.privateUsers !== undefined, o.uuid);
    // A pod this process prepared (`rkt run`) was checked as it was made (`preparePod`): only run-prepared's reads its manifest.
    if (o.lockFd === undefined) checkPodPortsNet(prepared, o.net, o.uuid);
    try {
      await rename(prepared, dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        throw new PodError('POD_STATE', `pod ${o.uuid} is no longer prepared: another rkt ran or removed it`, { subject: o.uuid });
      }
      throw err;
    }
    // `started` holds the time the pod began starting: its temp and fsync first, so that the fsync has a thread
    // of the pool before the directories' syncs below, and is done by the time the rootfs is (~1 ms, a disk flush,
    // that the stage1's start no longer waits for).
    staged = stageFile(dir, POD_FILES.started, `${isoNow()}\n`);
    // The move's directory sync waits on the disk, not on what follows: it runs beside the rootfs mounts and
    // is done before the stage1 starts. (Handled here, so that a failed mount leaves no unhandled rejection.)
    // A pod this process prepared (`rkt run`) has its directories synced here, in the same wait: prepare left
    // them (keepLock), so that none of their syncs is on its own path. The pod directory itself is `started`'s.
    const podDirs = o.lockFd === undefined ? [] : [join(dir, 'stage1'), ...info.apps.flatMap((a) => [join(dir, 'appsinfo'), join(dir, POD_FILES.appDir(a.name)), dirname(join(dir, POD_FILES.appUpper(a.name)))])];
    const moved = Promise.all([join(podsDir(o.dataDir), 'run'), ...new Set(podDirs)].map((d) => syncDir(d)));
    moved.catch(() => {});
    // A pod whose link dangles (absolute, an older rkt-ts's or one kept where `pods` is a symlink, in a data
    // directory moved since; relative, a session-19 rkt-ts's where `pods` is a symlink): its stage1 runs
    // through the link. One system call for a link that resolves.
    relinkMovedStage1(o.dataDir, dir);
    for (const app of info.apps) {
      const { mode } = await mountAppRootfs({
        lower: appLower(o.dataDir, info, app),
        target: join(dir, POD_FILES.appRootfs(app.name)),
        upper: join(dir, POD_FILES.appUpper(app.name)),
        work: join(dir, POD_FILES.appWork(app.name)),
        mode: info.rootfsMode,
        dataDir: o.dataDir,
        // Prepared by this process, whose lock it has held since (`rkt run`): nothing is mounted in it yet.
        fresh: o.lockFd !== undefined,
        ...(info.privateUsers !== undefined ? { idmap: info.privateUsers } : {}),
        ...(o.log ? { debug: o.log } : {}),
      });
      o.log?.(`app ${app.name}: rootfs set up (${mode})`);
      if (app.mounts !== undefined && app.mounts.length > 0) {
        await mountAppVolumes(dir, app.name, join(dir, POD_FILES.appRootfs(app.name)), app.mounts);
        o.log?.(`app ${app.name}: ${app.mounts.length} volume mount(s) set up`);
      }
    }
    // Started once its rootfs is there: `started` is named (its fsync began before the mounts), beside the move's
    // sync if that is still going on and beside reading the stage1's entrypoints. Both are done before the stage1
    // starts. Then the pod directory's sync: without it a power loss may undo the rename, and `rkt status` of the
    // pod that ran would show no start (the file's own fsync alone does not keep its name).
    placed = true;
    const started = staged.place().then(() => syncDir(dir));
    started.catch(() => {});
    const { executable, module, execable, interfaceVersion } = stage1RunEntrypoints(dir, stage1Annotations);
    if (executable === undefined) throw new PodError('POD_STAGE1', `the stage1 of pod ${o.uuid} has no run entrypoint`, { subject: o.uuid });
    if (o.mutable === true && interfaceVersion < MUTABLE_INTERFACE_VERSION) {
      throw new PodError('POD_STAGE1', `the stage1 of pod ${o.uuid} has interface version ${interfaceVersion}: a mutable pod needs ${MUTABLE_INTERFACE_VERSION}`, { subject: o.uuid });
    }
    // rkt's DNS flags: the files the stage1 gives the apps, written beside `started`, and the argument that
    // says what to do (stage1 interface version 4). Nothing of it without a flag, so that every stage1 runs
    // as it did.
    let dnsArg: string | undefined;
    let dnsFiles: Promise<unknown> = Promise.resolve();
    if (o.dns !== undefined) {
      if (interfaceVersion >= DNS_CONF_MODE_INTERFACE_VERSION) {
        const { mode, files } = dnsConfForStage1(o.dns);
        dnsArg = `--dns-conf-mode=${formatDnsConfMode(mode)}`;
        dnsFiles = Promise.all(files.map((f) => writeFileAtomic(join(dir, f.name), f.text)));
        dnsFiles.catch(() => {});
      } else {
        // rkt warned and ran the pod too.
        o.warn?.(
          `warning: the stage1 of pod ${o.uuid} has interface version ${interfaceVersion}, which has no DNS configuration (--dns-conf-mode, version ${DNS_CONF_MODE_INTERFACE_VERSION}): --dns, --dns-search, --dns-opt, --dns-domain and --hosts-entry are ignored`,
        );
      }
    }
    const insecure = (['capabilities', 'paths', 'seccomp'] as const).filter((k) => o.insecure?.[k] === true);
    const insecureNames: readonly string[] = insecure;
    const insecureArgs = insecure.map((k) => INSECURE_ARGS[k]);
    const args = [
      ...(o.debug ? ['--debug'] : []),
      ...(o.interactive ? ['--interactive'] : []),
      ...(o.net !== undefined && o.net !== 'host' ? [`--net=${o.net}`] : []),
      ...(info.privateUsers !== undefined ? [`--private-users=${info.privateUsers.shift}:${info.privateUsers.count}`] : []),
      ...versioned(o, interfaceVersion, HOSTNAME_INTERFACE_VERSION, o.hostname !== undefined ? [`--hostname=${o.hostname}`] : [], '--hostname'),
      ...(info.inheritEnv ? ['--inherit-env'] : []),
      ...(o.localConfigDir ? [`--local-config=${o.localConfigDir}`] : []),
      ...versioned(o, interfaceVersion, INSECURE_OPTIONS_INTERFACE_VERSION, insecureArgs, `--insecure-options=${insecureNames.join(',')}`),
      ...(dnsArg !== undefined ? [dnsArg] : []),
      ...(o.mutable === true ? ['--mutable'] : []),
      o.uuid,
    ];
    // In this process only when it is the pod's to its user (forwardSignals): the module then owns its
    // stop signals, as the executable does its own.
    const inProcess = module !== undefined && o.forwardSignals ? usableRunModule(module, executable, o.log, o.requireModule) : undefined;
    await moved;
    await started;
    await dnsFiles;
    await o.pending;
    if (inProcess === undefined && o.exec !== undefined && execable && sysAvailable() && o.exec.beforeExec?.() !== false) {
      o.log?.(`executing stage1: ${executable} ${args.join(' ')}`);
      o.bus?.publish(podEvent('pod/running', o.uuid, { stage1Pid: process.pid }));
      for (const app of info.apps) o.bus?.publish(podEvent('app/started', o.uuid, { app: app.name, image: app.imageName }));
      try {
        // The lock becomes the executable's fd 3 (RKT_LOCK_FD); this process's copy is close-on-exec.
        execProcess({ file: executable, argv: [executable, ...args], cwd: dir, env: { ...process.env, RKT_LOCK_FD: '3', [RUN_EXEC_ENV]: '1' }, fds: [0, 1, 2, fd] });
      } catch (err) {
        throw new PodError('POD_STAGE1', `cannot execute the stage1 run entrypoint ${executable}: ${(err as Error).message}`, { subject: o.uuid, cause: err });
      }
    }
    let exited: Promise<number>;
    let stage1Pid: number | undefined;
    if (inProcess !== undefined) {
      o.log?.(`running the stage1 run module in this process: ${inProcess.path} ${args.join(' ')}`);
      // The lock stays on this process's handle, closed below once the pod has ended.
      const host = sysAvailable() ? { spawn: spawnProcess, pipe, listenUnix, mount, idmapBind, openPty, ptyResize } : {};
      exited = runModuleInPodDir(inProcess.module, dir, args, { lockFd: fd, ...host });
      stage1Pid = process.pid;
    } else {
      o.log?.(`starting stage1: ${executable} ${args.join(' ')}`);
      const child = await spawnStage1(executable, args, dir, fd, o);
      // The stage1 holds the lock now (its fd 3 shares our open description); our copy can go.
      handedOver = true;
      unlock(fd);
      exited = child.exited;
      stage1Pid = child.pid;
    }
    o.bus?.publish(podEvent('pod/running', o.uuid, { stage1Pid }));
    for (const app of info.apps) o.bus?.publish(podEvent('app/started', o.uuid, { app: app.name, image: app.imageName }));
    // One app's end is its pod's end when it is alone: only a pod of several has exits worth telling early.
    const bus = o.bus;
    // A mutable pod's apps come and go: each run of one is told as it ends (`rkt app stop`'s, or its own end).
    const mutableExits = bus !== undefined && o.mutable === true ? watchMutableAppExits(dir, (app, exitStatus) => bus.publish(podEvent('app/exited', o.uuid, { app, exitStatus }))) : undefined;
    const early =
      bus !== undefined && info.apps.length > 1
        ? watchAppExits(dir, info.apps.map((a) => a.name), (app, exitStatus) => bus.publish(podEvent('app/exited', o.uuid, { app, exitStatus })))
        : undefined;

    let status: number;
    let told: ReadonlySet<string> = new Set();
    try {
      status = await exited;
    } finally {
      told = early?.stop() ?? told;
      mutableExits?.stop();
    }
    for (const app of info.apps) {
      if (told.has(app.name)) continue;
      const exit = readAppExit(dir, app.name);
      o.bus?.publish(podEvent('app/exited', o.uuid, { app: app.name, ...(exit !== undefined ? { exitStatus: exit } : {}) }));
    }
    o.bus?.publish(podEvent('pod/exited', o.uuid, { exitStatus: status }));
    return status;
  } catch (err) {
    if (!placed) staged?.discard();
    throw err;
  } finally {
    // Whatever failed before stage1 got the lock leaves an exited pod, which gc removes; a run module's pod
    // has ended here.
    if (!handedOver) unlock(fd);
  }
}

/** The pod's run module when this process can run it, else undefined and a (--debug) line saying why not. */
function usableRunModule(
  ref: Stage1RunModuleRef,
  executable: string,
  log: ((message: string) => void) | undefined,
  requireModule: ((path: string) => unknown) | undefined,
): { path: string; module: Stage1RunModule } | undefined {
  if ('unusable' in ref) {
    log?.(`not using the stage1 run module: ${ref.unusable}; executing ${executable}`);
    return undefined;
  }
  const loaded = loadRunModule(ref.path, requireModule);
  if ('unusable' in loaded) {
    log?.(`not using the stage1 run module ${ref.path}: ${loaded.unusable}; executing ${executable}`);
    return undefined;
  }
  return { path: ref.path, module: loaded.module };
}

/**
 * Starts the stage1 run executable in the pod directory with the lock as its fd 3 (RKT_LOCK_FD) and this
 * process's stdio; once started, SIGTERM and SIGHUP to this process are passed on and SIGINT left to it
 * when `forwardSignals`.
 */
async function spawnStage1(entry: string, args: readonly string[], dir: string, fd: number, o: RunOptions): Promise<{ pid: number | undefined; exited: Promise<number> }> {
  let child: ReturnType<typeof spawnProcess>;
  try {
    // posix_spawn rather than child_process: no fork of this process, and no load of net and the streams.
    child = spawnProcess({ file: entry, argv: [entry, ...args], cwd: dir, env: { ...process.env, RKT_LOCK_FD: '3', [RUN_EXEC_ENV]: undefined }, fds: [0, 1, 2, fd] });
  } catch (err) {
    throw new PodError('POD_STAGE1', `cannot start the stage1 run entrypoint ${entry}: ${(err as Error).message}`, { subject: o.uuid, cause: err });
  }
  const forward = (sig: NodeJS.Signals): void => {
    try {
      process.kill(child.pid, sig);
    } catch {
      // Already gone: its exit is on its way.
    }
  };
  const ignore = (): void => {};
  if (o.forwardSignals) {
    process.on('SIGTERM', forward);
    process.on('SIGHUP', forward);
    process.on('SIGINT', ignore);
  }
  const exited = child.exited.then(
    (r) => r.status,
    (err: unknown) => {
      throw new PodError('POD_STAGE1', `cannot wait for the stage1 run entrypoint ${entry}: ${(err as Error).message}`, { subject: o.uuid, cause: err });
    },
  );
  void exited
    .finally(() => {
      process.off('SIGTERM', forward);
      process.off('SIGHUP', forward);
      process.off('SIGINT', ignore);
    })
    .catch(() => {});
  return { pid: child.pid, exited };
}
