import type { SpawnedProcess, SpawnOptions } from '@rkt/rootfs-overlay/sys';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Lean: the pod's copy of the stage1 manifest was validated when the stage1 image was imported.
import { getAnnotation, readValidatedImageManifest, type ImageManifest, type PodManifest } from '@rkt/appc-spec/lean';
import { PodError } from './errors.js';
import { POD_FILES } from './layout.js';

/** The stage1 entrypoint annotations of rkt's stage1 implementors' guide. */
export const STAGE1_ANNOTATIONS = {
  run: 'coreos.com/rkt/stage1/run',
  enter: 'coreos.com/rkt/stage1/enter',
  gc: 'coreos.com/rkt/stage1/gc',
  stop: 'coreos.com/rkt/stage1/stop',
  /**
   * rkt's attach entrypoint (experimental, RKT_EXPERIMENT_ATTACH; its guide: "to be stabilized in version 5"):
   * a stage1 that names it serves apps' stream modes (`--stdin/--stdout/--stderr`) and `rkt attach`. Asked for
   * by the annotation alone, as rkt's stage0 did, whatever the interface version.
   */
  attach: 'coreos.com/rkt/stage1/attach',
  /** rkt's app entrypoints (interface version 5, rkt's "experimental"): a running mutable pod's apps, one at a time. */
  appAdd: 'coreos.com/rkt/stage1/app/add',
  appStart: 'coreos.com/rkt/stage1/app/start',
  appStop: 'coreos.com/rkt/stage1/app/stop',
  appRm: 'coreos.com/rkt/stage1/app/rm',
  interfaceVersion: 'coreos.com/rkt/stage1/interface-version',
  /** rkt-ts's extension: a CommonJS module stage0 may run in its own process instead of executing `run`. */
  runModule: 'rkt-ts.dev/stage1/run-module',
  runModuleVersion: 'rkt-ts.dev/stage1/run-module-version',
  /** rkt-ts's extension: a CommonJS module stage0 may call in its own process instead of executing `gc`. */
  gcModule: 'rkt-ts.dev/stage1/gc-module',
  gcModuleVersion: 'rkt-ts.dev/stage1/gc-module-version',
  /** rkt-ts's extension: a CommonJS module stage0 may call in its own process instead of executing `stop`. */
  stopModule: 'rkt-ts.dev/stage1/stop-module',
  stopModuleVersion: 'rkt-ts.dev/stage1/stop-module-version',
  /** rkt-ts's extension: CommonJS modules stage0 may call in its own process instead of executing the app entrypoints. */
  appAddModule: 'rkt-ts.dev/stage1/app-add-module',
  appAddModuleVersion: 'rkt-ts.dev/stage1/app-add-module-version',
  appStartModule: 'rkt-ts.dev/stage1/app-start-module',
  appStartModuleVersion: 'rkt-ts.dev/stage1/app-start-module-version',
  appStopModule: 'rkt-ts.dev/stage1/app-stop-module',
  appStopModuleVersion: 'rkt-ts.dev/stage1/app-stop-module-version',
  appRmModule: 'rkt-ts.dev/stage1/app-rm-module',
  appRmModuleVersion: 'rkt-ts.dev/stage1/app-rm-module-version',
  /**
   * rkt-ts's extension: the run executable may be exec'd by stage0 in its own place (rkt's way), with
   * `RKT_TS_RUN_EXEC=1` in its environment; the value is the version of that contract.
   */
  runExec: 'rkt-ts.dev/stage1/run-exec',
  /**
   * rkt-ts's extension: the run entrypoint gives `--net=none` a network namespace of the pod's own with only its
   * loopback; the value is the version of that contract. rkt's interface had every stage1 take `--net`, but a
   * stage1 may ignore what it does not implement (rkt's fly did, as rkt-ts's stage1s built before this did):
   * stage0 asks only a stage1 that says it can, rather than have a pod run on the host's network unawares.
   */
  netNone: 'rkt-ts.dev/stage1/net-none',
  /**
   * rkt-ts's extension: the run entrypoint sets up rkt's CNI networks for any other `--net` (rkt's list:
   * `default`, `default-restricted`, networks of `<local-config>/net.d`, `NAME:CNI_ARGS`, `all`), saves them in
   * the pod directory's `net-info.json` as rkt's stage1 did, and tears them down after the pod (its gc
   * entrypoint, after a run that was killed); the value is the version of that contract. Asked of a stage1
   * that says it can only, as `net-none` is.
   */
  cniNetworks: 'rkt-ts.dev/stage1/cni-networks',
  /**
   * rkt-ts's extension: the run entrypoint takes rkt's `--private-users=SHIFT:COUNT` (the pod in a user
   * namespace mapping its IDs 0..COUNT-1 to the host's SHIFT..; its apps' roots already shifted by stage0)
   * and needs the run context's `idmapBind` for its own root; the value is the version of that contract.
   * rkt passed the argument to every stage1 (interface version 1) and its fly ignored it: stage0 asks only a
   * stage1 that says it can, rather than run a pod's root as the host's root unawares.
   */
  privateUsers: 'rkt-ts.dev/stage1/private-users',
} as const;
export type Stage1Entrypoint = 'run' | 'enter' | 'gc' | 'stop' | 'attach' | 'appAdd' | 'appStart' | 'appStop' | 'appRm';

/** The app entrypoints, by the `rkt app` command that calls each. */
export type Stage1AppEntrypoint = 'appAdd' | 'appStart' | 'appStop' | 'appRm';

/**
 * rkt's pod manifest annotation of a mutable pod (`rkt app sandbox`): apps are added, started, stopped and removed
 * while it runs. Absent, false.
 */
export const MUTABLE_POD_ANNOTATION = 'coreos.com/rkt/stage1/mutable';

/**
 * The stage1 interface versions this stage0 drives, rkt's numbering (its stage1 implementors' guide). Version 1:
 * run (with RKT_LOCK_FD and the UUID as the last argument), enter, gc; stop is used when the image names it,
 * otherwise stage0 signals the pid itself, as rkt did for stage1s without one. 2 adds run's `--hostname`, 3
 * its `--disable-capabilities-restriction`, `--disable-paths` and `--disable-seccomp`, 4 its `--dns-conf-mode`, 5
 * run's `--mutable` and the app entrypoints (`app/add`, `app/start`, `app/stop`, `app/rm`) of mutable pods.
 * Each argument goes only to a stage1 of the version that takes it, as rkt's stage0 passed them (a stage1 that
 * parses its flags strictly, as rkt's did with Go's flag package, fails on one it does not know).
 */
export const SUPPORTED_INTERFACE_VERSIONS = [1, 2, 3, 4, 5] as const;

/** The first interface version whose run entrypoint takes `--hostname`. */
export const HOSTNAME_INTERFACE_VERSION = 2;

/** The first interface version whose run entrypoint takes `--disable-capabilities-restriction`, `--disable-paths` and `--disable-seccomp`. */
export const INSECURE_OPTIONS_INTERFACE_VERSION = 3;

/** The first interface version whose run entrypoint takes `--dns-conf-mode`. */
export const DNS_CONF_MODE_INTERFACE_VERSION = 4;

/** The first interface version whose run entrypoint takes `--mutable` and whose image may name the app entrypoints. */
export const MUTABLE_INTERFACE_VERSION = 5;

/** A stage1 manifest's interface version as written (absent: 1), NaN when it is not a number. */
function interfaceVersionOf(annotations: ImageManifest['annotations']): { raw: string; version: number } {
  const raw = getAnnotation(annotations, STAGE1_ANNOTATIONS.interfaceVersion) ?? '1';
  return { raw, version: /^[0-9]+$/.test(raw) ? Number(raw) : NaN };
}

/** Checks that an image is a stage1 this stage0 can drive; returns its interface version. */
export function checkStage1Manifest(m: ImageManifest, source: string): number {
  const run = getAnnotation(m.annotations, STAGE1_ANNOTATIONS.run);
  if (run === undefined) {
    throw new PodError('POD_STAGE1', `${source} (${m.name}) is not a stage1 image: it has no ${STAGE1_ANNOTATIONS.run} annotation`, { subject: source });
  }
  const { raw, version } = interfaceVersionOf(m.annotations);
  if (!(SUPPORTED_INTERFACE_VERSIONS as readonly number[]).includes(version)) {
    throw new PodError(
      'POD_STAGE1',
      `${source} (${m.name}): stage1 interface version ${JSON.stringify(raw)} is not supported (supported: ${SUPPORTED_INTERFACE_VERSIONS.join(', ')})`,
      { subject: source },
    );
  }
  return version;
}

/**
 * The versions of the run module (`rkt-ts.dev/stage1/run-module`) this stage0 can load. Version 1: a CommonJS
 * module exporting `run(args, {lockFd})` (see `Stage1RunModule`).
 */
export const SUPPORTED_RUN_MODULE_VERSIONS = [1] as const;

/**
 * A stage1's run entrypoint as a module (run-module version 1), which stage0 calls in its own process in the
 * pod directory (its working directory for the call) instead of executing `coreos.com/rkt/stage1/run`: rkt's
 * exec of the run entrypoint, for a Node stage1.
 */
export interface Stage1RunModule {
  /**
   * `args` are the run executable's arguments, the UUID last; the pod's lock is held by the caller on
   * `lockFd` for the call. Resolves with the pod's exit status, the executable's failures included (the
   * module reports them as the executable does: one line on stderr, 254). It must not exit the process nor
   * change its environment, and must leave no handler, timer or handle behind once settled; while it runs
   * it owns SIGTERM, SIGHUP and SIGINT, as the executable would.
   */
  run(args: readonly string[], context: Stage1RunContext): Promise<number>;
}

/**
 * What stage0 gives a run module (version 1). `lockFd` always; `spawn`, `pipe`, `listenUnix` and `mount` when stage0 has
 * them (rkt-ts's does, through its native addon), so that a module need not load `node:child_process` (whose
 * spawn forks stage0's whole process) and can load `node:net` after its pod has started rather than before:
 * a module must work without them, as the executable does.
 */
export interface Stage1RunContext {
  readonly lockFd: number;
  /** Starts a process with posix_spawn(3); throws when it cannot (with the errno's name as `code`). */
  readonly spawn?: (o: Stage1SpawnOptions) => Stage1SpawnedProcess;
  /** pipe2(2), both ends close-on-exec: `[readFd, writeFd]`, the caller's to close. */
  readonly pipe?: () => [number, number];
  /**
   * A unix stream socket bound at `path` (relative to the working directory) and listening, close-on-exec:
   * its fd, for a `net.Server` to take over (`listen({ fd })`); connections queue until then.
   */
  readonly listenUnix?: (path: string) => number;
  /**
   * A new pseudo-terminal of the host's devpts, unlocked (`@rkt/rootfs-overlay/sys`'s `openPty`): the fds of
   * both ends (close-on-exec, the caller's to close) and the slave's path. What rkt's `--stdin=tty` needs:
   * Node cannot unlock a pty (an ioctl).
   */
  readonly openPty?: () => { readonly master: number; readonly slave: number; readonly path: string };
  /** TIOCSWINSZ on a terminal's fd (`@rkt/rootfs-overlay/sys`'s `ptyResize`): an attach's terminal size to the app's pty. */
  readonly ptyResize?: (fd: number, rows: number, cols: number) => void;
  /**
   * mount(2) (`data`: the file system's options; throws with the errno's name as `code`), so that a module need
   * not run mount(8) for what it mounts before its pod starts (the systemd stage1's root).
   */
  readonly mount?: (source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => void;
  /**
   * An idmapped bind mount of `source` (that mount only) at `target`, its owners shifted by `shift` for IDs
   * below `count` (`@rkt/rootfs-overlay/sys`'s `idmapBind`): what a pod with `--private-users` needs for a
   * root of its own over a shared tree.
   */
  readonly idmapBind?: (source: string, target: string, shift: number, count: number) => void;
}

/** stage0's spawn: posix_spawn(3), see `@rkt/rootfs-overlay/sys`'s `spawnProcess`. */
export type Stage1SpawnOptions = SpawnOptions;
export type Stage1SpawnedProcess = SpawnedProcess;

/**
 * The versions of the run-exec contract (`rkt-ts.dev/stage1/run-exec`) this stage0 knows. Version 1: stage0 may
 * replace itself with the run executable (execve(2), as rkt's stage0 did) rather than start it as its child,
 * and then sets `RKT_TS_RUN_EXEC=1` in its environment. The executable is then the process its user started
 * (its pid, its parent, its signals): it must not watch for a stage0 parent's death, and whatever it would
 * have left to stage0 after the pod (its exit status) is its own. A stage1 without the annotation is always
 * started as a child, as it was built to be (rkt-ts's fly before it, which ties itself to its parent's life).
 */
export const SUPPORTED_RUN_EXEC_VERSIONS = [1] as const;

/** The `rkt-ts.dev/stage1/net-none` versions this stage0 knows: 1, run's `--net=none` as described there. */
export const SUPPORTED_NET_NONE_VERSIONS = [1] as const;

/** The `rkt-ts.dev/stage1/cni-networks` versions this stage0 knows: 1, run's `--net=NETS` as described there. */
export const SUPPORTED_CNI_NETWORKS_VERSIONS = [1] as const;
/** The `rkt-ts.dev/stage1/private-users` versions this stage0 knows: 1, run's `--private-users` as described there. */
export const SUPPORTED_PRIVATE_USERS_VERSIONS = [1] as const;

/** The environment variable that tells a run executable stage0 exec'd it (run-exec version 1). */
export const RUN_EXEC_ENV = 'RKT_TS_RUN_EXEC';

/** A pod's run module: its absolute path, or why this stage0 cannot use it. */
export type Stage1RunModuleRef = { readonly path: string } | { readonly unusable: string };

/**
 * The versions of the gc module (`rkt-ts.dev/stage1/gc-module`) this stage0 can load. Version 1: a CommonJS
 * module exporting `gc(args, {podDir})` (see `Stage1GcModule`).
 */
export const SUPPORTED_GC_MODULE_VERSIONS = [1] as const;

/**
 * A stage1's gc entrypoint as a module (gc-module version 1): `rkt gc` calls it in its own process for
 * each pod it removes, instead of starting the `coreos.com/rkt/stage1/gc` executable once per pod (a Node
 * start each, for a stage1 written in Node).
 */
export interface Stage1GcModule {
  /**
   * `args` are the gc executable's arguments (`[--debug] UUID`); `podDir` is the pod's directory, which
   * the executable would have as its working directory (the module must not rely on the process's). Does
   * the executable's work; rejects where the executable would exit non-zero. It must not exit the
   * process, change its working directory or environment, or leave a handler, timer or handle behind.
   */
  gc(args: readonly string[], context: Stage1GcContext): Promise<void>;
}

/** What stage0 gives a gc module (version 1): `podDir` always, and its umount2(2) when it has one. */
export interface Stage1GcContext {
  readonly podDir: string;
  /**
   * umount2(2) (flags: MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8; throws with the errno's name as `code`), so that a
   * module need not run umount(8) per mount. A module must work without it, as the executable does.
   */
  readonly umount?: (target: string, flags: number) => void;
}

/** A pod's gc module: its absolute path, or why this stage0 cannot use it. */
export type Stage1GcModuleRef = { readonly path: string } | { readonly unusable: string };

/**
 * The versions of the stop module (`rkt-ts.dev/stage1/stop-module`) this stage0 can load. Version 1: a
 * CommonJS module exporting `stop(args, {podDir})` (see `Stage1StopModule`).
 */
export const SUPPORTED_STOP_MODULE_VERSIONS = [1] as const;

/**
 * A stage1's stop entrypoint as a module (stop-module version 1): `rkt stop` calls it in its own process
 * instead of starting the `coreos.com/rkt/stage1/stop` executable (a Node start, for a stage1 in Node).
 */
export interface Stage1StopModule {
  /**
   * `args` are the stop executable's arguments (`[--force] UUID`); `podDir` the pod's directory (the
   * executable's working directory). Does the executable's work; rejects where it would exit non-zero.
   * The same rules as the gc module's: no exit, no change of working directory or environment, nothing
   * left behind once settled.
   */
  stop(args: readonly string[], context: { readonly podDir: string }): Promise<void>;
}

/** A pod's stop module: its absolute path, or why this stage0 cannot use it. */
export type Stage1StopModuleRef = { readonly path: string } | { readonly unusable: string };

/**
 * The versions of the app modules (`rkt-ts.dev/stage1/app-{add,start,stop,rm}-module`) this stage0 can load.
 * Version 1: a CommonJS module exporting `app(args, {podDir, env})`, and the app-add module optionally
 * `check(app, {podDir, uuid, insecure})` (see `Stage1AppModule`).
 */
export const SUPPORTED_APP_MODULE_VERSIONS = [1] as const;

/**
 * A stage1's app entrypoint as a module (app-module version 1): `rkt app add/start/stop/rm` call it in their own
 * process instead of starting the executable (a Node start, for a stage1 in Node: 100 ms or more of each).
 */
export interface Stage1AppModule {
  /**
   * `args` are the executable's arguments (`--app=NAME --uuid=UUID [--debug] ...`), `env` its environment (with
   * rkt's RKT_STAGE1_ENTER* variables); the caller runs it with the pod's directory as the working directory (the
   * executable's), as it does a run module. Rejects where the executable would exit non-zero, with the line
   * it would have printed last. The same rules as the gc module's otherwise: no exit, no change of working
   * directory or environment, nothing left behind once settled.
   */
  app(args: readonly string[], context: { readonly podDir: string; readonly env: NodeJS.ProcessEnv }): Promise<void>;
  /**
   * The app-add module's optional export: throws (or rejects with) the line `app` would reject with for `app`,
   * the pod manifest entry `rkt app add` is about to write, where that needs nothing of the app's root (its
   * isolators beyond what the running pod can give). Called before anything of the add is written, in any
   * working directory; writes nothing. A stage1 without it refuses such an app in `app`, after the writes
   * (which stage0 then undoes).
   */
  check?(app: PodManifest['apps'][number], context: Stage1AppCheckContext): Promise<void>;
}

/** What an app-add module's `check` is told besides the app. */
export interface Stage1AppCheckContext {
  readonly podDir: string;
  readonly uuid: string;
  /** `rkt app add`'s `--insecure-options` (the app/add entrypoint's `--disable-*` arguments). */
  readonly insecure: { readonly capabilities: boolean; readonly paths: boolean; readonly seccomp: boolean };
}

/** A pod's app module: its absolute path, or why this stage0 cannot use it. */
export type Stage1AppModuleRef = { readonly path: string } | { readonly unusable: string };

function readStage1Manifest(podDir: string): ImageManifest {
  const path = join(podDir, POD_FILES.stage1Manifest);
  try {
    return readValidatedImageManifest(readFileSync(path), path);
  } catch (err) {
    throw new PodError('POD_STAGE1', `cannot read the stage1 manifest of the pod: ${(err as Error).message}`, { subject: path, cause: err });
  }
}

/** The absolute path of a pod's stage1 entrypoint, or undefined when its stage1 has none of that kind. */
export function stage1Entrypoint(podDir: string, kind: Stage1Entrypoint): string | undefined {
  const rel = getAnnotation(readStage1Manifest(podDir).annotations, STAGE1_ANNOTATIONS[kind]);
  return rel === undefined ? undefined : join(podDir, POD_FILES.stage1Rootfs, rel);
}

/**
 * A pod's entrypoint of one kind and, when its stage1 annotates one, the module stage0 may call instead.
 */
const MODULE_KEYS = {
  run: [STAGE1_ANNOTATIONS.runModule, STAGE1_ANNOTATIONS.runModuleVersion, SUPPORTED_RUN_MODULE_VERSIONS],
  gc: [STAGE1_ANNOTATIONS.gcModule, STAGE1_ANNOTATIONS.gcModuleVersion, SUPPORTED_GC_MODULE_VERSIONS],
  stop: [STAGE1_ANNOTATIONS.stopModule, STAGE1_ANNOTATIONS.stopModuleVersion, SUPPORTED_STOP_MODULE_VERSIONS],
  appAdd: [STAGE1_ANNOTATIONS.appAddModule, STAGE1_ANNOTATIONS.appAddModuleVersion, SUPPORTED_APP_MODULE_VERSIONS],
  appStart: [STAGE1_ANNOTATIONS.appStartModule, STAGE1_ANNOTATIONS.appStartModuleVersion, SUPPORTED_APP_MODULE_VERSIONS],
  appStop: [STAGE1_ANNOTATIONS.appStopModule, STAGE1_ANNOTATIONS.appStopModuleVersion, SUPPORTED_APP_MODULE_VERSIONS],
  appRm: [STAGE1_ANNOTATIONS.appRmModule, STAGE1_ANNOTATIONS.appRmModuleVersion, SUPPORTED_APP_MODULE_VERSIONS],
} as const;

/** Whether an annotation's version value (a string, or absent) names one of `supported`. */
function isSupportedVersion(value: string | undefined, supported: readonly number[]): boolean {
  return value !== undefined && supported.some((v) => String(v) === value);
}

function entrypointWithModule(
  podDir: string,
  kind: 'run' | 'gc' | 'stop' | Stage1AppEntrypoint,
  annotations = readStage1Manifest(podDir).annotations,
): { executable: string | undefined; module: { path: string } | { unusable: string } | undefined } {
  const inRootfs = (rel: string | undefined) => (rel === undefined ? undefined : join(podDir, POD_FILES.stage1Rootfs, rel));
  const [moduleKey, versionKey, supported] = MODULE_KEYS[kind];
  const executable = inRootfs(getAnnotation(annotations, STAGE1_ANNOTATIONS[kind]));
  const path = inRootfs(getAnnotation(annotations, moduleKey));
  if (path === undefined) return { executable, module: undefined };
  const version = getAnnotation(annotations, versionKey) ?? '';
  if (!isSupportedVersion(version, supported)) {
    const unusable = `its ${versionKey} ${JSON.stringify(version)} is not supported (supported: ${supported.join(', ')})`;
    return { executable, module: { unusable } };
  }
  return { executable, module: { path } };
}

/**
 * A pod's stage1 annotations, checked again as `checkStage1Manifest` checked them when the pod was prepared:
 * the pod may have been prepared by another rkt-ts, an older one whose stage1 speaks an interface version this
 * stage0 no longer does, or a newer one. `runPod` asks before the pod leaves `prepared/`, so that such a pod is
 * refused in one line and left as it was rather than run with arguments its stage1 does not take.
 */
export function checkPodStage1(podDir: string, uuid: string, net?: string, privateUsers = false): ImageManifest['annotations'] {
  const m = readStage1Manifest(podDir);
  checkStage1Manifest(m, `the stage1 of pod ${uuid}`);
  checkStage1Net(m, net, uuid);
  checkStage1PrivateUsers(m, privateUsers, uuid);
  return m.annotations;
}

/**
 * Refuses a mutable pod (`rkt app sandbox`) of a stage1 that cannot run one: an interface version below 5, or an
 * image that names no `app/add` entrypoint (rkt's stage0 likewise passed `--mutable` only to a stage1 with app
 * entrypoints).
 */
export function checkStage1Mutable(m: Pick<ImageManifest, 'name' | 'annotations'>, interfaceVersion: number, subject: string): void {
  if (interfaceVersion >= MUTABLE_INTERFACE_VERSION && getAnnotation(m.annotations, STAGE1_ANNOTATIONS.appAdd) !== undefined) return;
  throw new PodError(
    'POD_STAGE1',
    `stage1 ${m.name} cannot run a mutable pod: its interface version is ${interfaceVersion} and mutable pods need ${MUTABLE_INTERFACE_VERSION} with the app entrypoints (${STAGE1_ANNOTATIONS.appAdd}...); use the systemd stage1`,
    { subject },
  );
}

/**
 * Refuses rkt's CNI networks (any `--net` but `host` and `none`) for a pod in a user namespace of its own, before a
 * pod is made (`preparePod`) or leaves `prepared/` (`runPod`): systemd-nspawn (252) makes the pod's user namespace
 * first and cannot then join a network namespace the host's user namespace owns ("Failed to join network
 * namespace: Operation not permitted"), so such a pod would die as it starts, after its networks were set up.
 */
export function checkNetWithPrivateUsers(net: string | undefined, privateUsers: boolean, subject: string): void {
  if (!privateUsers || net === undefined || net === 'host' || net === 'none') return;
  throw new PodError('POD_NET', `--net=${net} with --private-users: a pod in a user namespace of its own cannot join CNI networks (its nspawn cannot enter a network namespace the host's user namespace owns); use --net=host or --net=none`, { subject });
}

/**
 * Refuses apps' stream modes other than the defaults (rkt's `--stdin/--stdout/--stderr`) for a stage1 that names
 * no attach entrypoint (fly), before a pod is made for it: such a stage1 would run the app with stdin closed and
 * its output on rkt's, unawares.
 */
export function checkStage1Streams(m: Pick<ImageManifest, 'name' | 'annotations'>, apps: ReadonlyArray<{ name: string; streams: boolean }>, subject: string): void {
  const app = apps.find((a) => a.streams);
  if (app === undefined || getAnnotation(m.annotations, STAGE1_ANNOTATIONS.attach) !== undefined) return;
  throw new PodError(
    'POD_STAGE1',
    `app ${app.name}: --stdin, --stdout and --stderr modes other than the defaults need a stage1 with an attach entrypoint (${STAGE1_ANNOTATIONS.attach}); stage1 ${m.name} has none: use the systemd stage1`,
    { subject },
  );
}

/**
 * Refuses `--private-users` for a stage1 that does not say it runs a pod in a user namespace
 * (`rkt-ts.dev/stage1/private-users`), before a pod is made for it (`preparePod`) or leaves `prepared/` (`runPod`).
 */
export function checkStage1PrivateUsers(m: Pick<ImageManifest, 'name' | 'annotations'>, privateUsers: boolean, subject: string): void {
  if (!privateUsers || isSupportedVersion(getAnnotation(m.annotations, STAGE1_ANNOTATIONS.privateUsers), SUPPORTED_PRIVATE_USERS_VERSIONS)) return;
  throw new PodError(
    'POD_STAGE1',
    `--private-users: stage1 ${m.name} cannot run a pod in a user namespace (its image has no ${STAGE1_ANNOTATIONS.privateUsers} annotation of version ${SUPPORTED_PRIVATE_USERS_VERSIONS.join(', ')}); use the systemd stage1`,
    { subject },
  );
}

/**
 * Refuses `--net=none` for a stage1 that does not say it gives a pod a network of its own
 * (`rkt-ts.dev/stage1/net-none`), and rkt's CNI networks (any other `--net` but `host`) for one that does not
 * say it sets them up (`rkt-ts.dev/stage1/cni-networks`), before a pod is made for it (`preparePod`) or leaves
 * `prepared/` (`runPod`).
 */
export function checkStage1Net(m: Pick<ImageManifest, 'name' | 'annotations'>, net: string | undefined, subject: string): void {
  if (net === undefined || net === 'host') return;
  if (net === 'none') {
    if (isSupportedVersion(getAnnotation(m.annotations, STAGE1_ANNOTATIONS.netNone), SUPPORTED_NET_NONE_VERSIONS)) return;
    throw new PodError(
      'POD_STAGE1',
      `--net=none: stage1 ${m.name} cannot give a pod a network of its own (its image has no ${STAGE1_ANNOTATIONS.netNone} annotation of version ${SUPPORTED_NET_NONE_VERSIONS.join(', ')}); use the systemd stage1`,
      { subject },
    );
  }
  if (isSupportedVersion(getAnnotation(m.annotations, STAGE1_ANNOTATIONS.cniNetworks), SUPPORTED_CNI_NETWORKS_VERSIONS)) return;
  throw new PodError(
    'POD_STAGE1',
    `--net=${net}: stage1 ${m.name} cannot set up CNI networks (its image has no ${STAGE1_ANNOTATIONS.cniNetworks} annotation of version ${SUPPORTED_CNI_NETWORKS_VERSIONS.join(', ')}); use the systemd stage1`,
    { subject },
  );
}

/**
 * The pod's run entrypoint, its run module when its stage1 annotates one, whether stage0 may exec the
 * executable in its own place (`rkt-ts.dev/stage1/run-exec` of a version this stage0 knows), and the stage1's
 * interface version (see `checkPodStage1`). `annotations`: the stage1's, when read already.
 */
export function stage1RunEntrypoints(podDir: string, annotations = readStage1Manifest(podDir).annotations): {
  executable: string | undefined;
  module: Stage1RunModuleRef | undefined;
  execable: boolean;
  interfaceVersion: number;
} {
  const execVersion = getAnnotation(annotations, STAGE1_ANNOTATIONS.runExec);
  const execable = isSupportedVersion(execVersion, SUPPORTED_RUN_EXEC_VERSIONS);
  return { ...entrypointWithModule(podDir, 'run', annotations), execable, interfaceVersion: interfaceVersionOf(annotations).version };
}

/** The pod's stage1 interface version (absent: 1; NaN when it is not a number). */
export function podStage1InterfaceVersion(podDir: string): number {
  return interfaceVersionOf(readStage1Manifest(podDir).annotations).version;
}

/** The pod's stop entrypoint and, when its stage1 annotates one, its stop module. */
export function stage1StopEntrypoints(podDir: string): { executable: string | undefined; module: Stage1StopModuleRef | undefined } {
  return entrypointWithModule(podDir, 'stop');
}

/** The pod's app entrypoint of this kind and, when its stage1 annotates one, its app module. */
export function stage1AppEntrypoints(podDir: string, kind: Stage1AppEntrypoint): { executable: string | undefined; module: Stage1AppModuleRef | undefined } {
  return entrypointWithModule(podDir, kind);
}

/** The pod's gc entrypoint and, when its stage1 annotates one, its gc module. */
export function stage1GcEntrypoints(podDir: string): { executable: string | undefined; module: Stage1GcModuleRef | undefined } {
  return entrypointWithModule(podDir, 'gc');
}
