// rkt's app-level commands on a running mutable pod (`rkt app add/start/stop/rm/list/status`, rkt's experimental
// RKT_EXPERIMENT_APP): stage0's side, which changes the pod directory and calls the stage1's app entrypoints
// (interface version 5).
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { getAnnotation, isAcName, readValidatedImageManifest, type PodManifest } from '@rkt/appc-spec/lean';
import { mountAppRootfs, unmountTree } from '@rkt/rootfs-overlay';
import { flock } from '@rkt/rootfs-overlay/sys';
import type { Store } from '@rkt/image-store';
import { checkAppIsolators } from './app-isolators.js';
import { mountAppVolumes } from './mount-volumes.js';
import { appMounts, checkVolumes, implicitVolumes } from './volumes.js';
import { readAppExit } from './app-exits.js';
import { dataDirRelative } from './data-dir-paths.js';
import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { syncDir, writeFileAtomic } from './fsutil.js';
import { readPodInfo, writePodInfo, type PodAppInfo } from './info.js';
import { POD_FILES, referencingPodDirs } from './layout.js';
import { waitForPodPids } from './pod-pid-wait.js';
import { findPod, podDetails, type PodDetails } from './pods.js';
import { defaultAppName, effectiveApp, streamAnnotations, type PrepareAppInput } from './prepare.js';
import { appStreamModes } from './stage1-abi/app-streams.js';
import { inDirectory, loadAppModule } from './run-module.js';
import { MUTABLE_INTERFACE_VERSION, MUTABLE_POD_ANNOTATION, podStage1InterfaceVersion, STAGE1_ANNOTATIONS, stage1AppEntrypoints, stage1Entrypoint, type Stage1AppCheckContext, type Stage1AppEntrypoint } from './stage1.js';

/** What every app operation names: the data directory, the pod (a UUID or a unique prefix) and how to report. */
export interface AppPodOptions {
  readonly dataDir: string;
  readonly uuid: string;
  readonly debug?: boolean;
  readonly bus?: EventBus;
  readonly log?: (message: string) => void;
}

/** The app files stage0 keeps beside `exit` (rkt's `created` and `started` markers): their mtimes are the app's times. */
const APP_CREATED = 'created';
const APP_STARTED = 'started';
/**
 * rkt-ts's mark of an app whose `rkt app rm` began (made before the stage1's app/rm, gone with the app's directory):
 * a removal cut short (its stage0 killed, while its stage1's app/rm may still remove the units; or the app/rm
 * failed) leaves the app in the manifest, where only another `rkt app rm` is asked of it. rkt 1.30 had none: its
 * app start of such an app failed in its stage1's systemctl.
 */
const APP_REMOVING = 'removing';
/**
 * rkt-ts's mark of an app whose `rkt app add` did not finish: made before the app enters the pod manifest, removed
 * once the stage1's app/add succeeded. An add killed whole in between (its undo never ran) leaves the app in the
 * manifest without its units, which only `rkt app rm` can serve: app start and stop of it are refused, saying so.
 * rkt 1.30 had none: its app start of such an app failed in its stage1 ("was not added to the pod", here).
 */
const APP_ADDING = 'adding';
/** rkt's manifest lock (`pod.lck`): the pod's own lock is its running stage1's, so app operations take this one. */
const MANIFEST_LOCK = POD_FILES.manifestLock;
const MANIFEST_LOCK_PATIENCE_MS = 10_000;

type RuntimeApp = PodManifest['apps'][number];

function readManifest(podDir: string): PodManifest {
  return JSON.parse(readFileSync(join(podDir, POD_FILES.manifest), 'utf8')) as PodManifest;
}

/** Whether a pod manifest says its pod is mutable (rkt's annotation; absent: false). */
export function isMutableManifest(m: Pick<PodManifest, 'annotations'>): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(getAnnotation(m.annotations, MUTABLE_POD_ANNOTATION) ?? 'false');
}

/**
 * The running mutable pod an app operation acts on, with its PID 1 and manifest: refused in one line, and nothing
 * changed, when it is not running, its stage1 has no app entrypoints (interface version below 5), or it is not mutable.
 */
async function mutablePod(o: AppPodOptions, verb: string): Promise<{ pod: PodDetails; pid: number }> {
  const found = findPod(o.dataDir, o.uuid);
  if (found.state !== 'running') throw new PodError('POD_STATE', `pod ${found.uuid} isn't currently running (it is ${found.state}): cannot ${verb} an app`, { subject: found.uuid });
  const version = podStage1InterfaceVersion(found.path);
  if (!(version >= MUTABLE_INTERFACE_VERSION) || stage1Entrypoint(found.path, 'appAdd') === undefined) {
    throw new PodError('POD_STAGE1', `the stage1 of pod ${found.uuid} has interface version ${version}, without app entrypoints (version ${MUTABLE_INTERFACE_VERSION}): cannot ${verb} an app`, { subject: found.uuid });
  }
  if (!isMutableManifest(readManifest(found.path))) throw new PodError('POD_STATE', `pod ${found.uuid} is immutable (not made by "rkt app sandbox"): cannot ${verb} an app`, { subject: found.uuid });
  const pod = await podDetails(found);
  const pid = pod.pid ?? (await waitForPodPids(found, (p) => p.pid !== undefined))?.pid;
  if (pid === undefined) throw new PodError('POD_STATE', `pod ${pod.uuid} isn't currently running (it stopped while starting)`, { subject: pod.uuid });
  return { pod, pid };
}

/** Runs `fn` holding the pod's manifest lock (flock of `pod.lck`), so that app operations on one pod take turns. */
async function withManifestLock<T>(podDir: string, fn: () => Promise<T>): Promise<T> {
  const fd = openSync(join(podDir, MANIFEST_LOCK), constants.O_RDONLY | constants.O_CREAT, 0o640);
  try {
    for (let waited = 0; !flock(fd, { exclusive: true, nonblocking: true }); waited += 20) {
      if (waited >= MANIFEST_LOCK_PATIENCE_MS) throw new PodError('POD_LOCKED', `the manifest of pod ${podDir} is locked by another rkt app command`, { subject: podDir });
      await new Promise((r) => setTimeout(r, 20));
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses to act on an app whose `rkt app rm` did not finish (APP_REMOVING): its units may be gone, and it was
 * asked to go; or whose `rkt app add` did not finish (APP_ADDING, seen under the manifest lock, so not an add
 * still running): its units may never have been written.
 */
function checkNotRemoving(pod: PodDetails, app: string, verb: string): void {
  const dir = join(pod.path, POD_FILES.appDir(app));
  if (existsSync(join(dir, APP_REMOVING))) {
    throw new PodError('POD_APP', `cannot ${verb} app ${JSON.stringify(app)}: an "rkt app rm" of it did not finish (it is removing); finish it with "rkt app rm ${pod.uuid} --app=${app}"`, { subject: app });
  }
  if (existsSync(join(dir, APP_ADDING))) {
    throw new PodError('POD_APP', `cannot ${verb} app ${JSON.stringify(app)}: the "rkt app add" of it did not finish (it is adding); remove it with "rkt app rm ${pod.uuid} --app=${app}", then add it again`, { subject: app });
  }
}

/**
 * Leaves an app's mark (APP_ADDING, APP_REMOVING) in its directory `dir`, on disk before what it guards happens:
 * after a power loss the manifest must not name a half-added app without its mark, nor the stage1 have removed
 * the units of an app shown without one. The file and `dir` are synced, and `appsinfo/` too when this command
 * made `dir` (`newDir`), whose entry there the mark needs.
 */
async function markApp(dir: string, mark: string, newDir: boolean): Promise<void> {
  await writeFileAtomic(join(dir, mark), '');
  await syncDir(dir);
  if (newDir) await syncDir(dirname(dir));
}

/** Takes an app's mark away, on disk: after a power loss the pod's apps are listed as they were last left. */
async function unmarkApp(dir: string, mark: string): Promise<void> {
  rmSync(join(dir, mark), { force: true });
  await syncDir(dir);
}

function manifestApp(pod: PodDetails, manifest: PodManifest, app: string): RuntimeApp {
  const found = manifest.apps.find((a) => a.name === app);
  if (found === undefined) {
    const names = manifest.apps.map((a) => a.name);
    throw new PodError('POD_APP', `pod ${pod.uuid} has no app ${JSON.stringify(app)} (${names.length > 0 ? `apps: ${names.join(', ')}` : 'it has no apps'})`, { subject: app });
  }
  return found;
}

/** A temp file of the pod manifest or record (writeFileAtomic's `.<name>.<pid>.<random>.tmp`), with its writer's pid. */
const TEMP_FILE = /^\.(?:pod|pod-info\.json)\.([0-9]+)\.[a-z0-9]*\.tmp$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Under the manifest lock, before `app` (not in the pod manifest) is added: clears what an `rkt app add` or
 * `rkt app rm` of that name killed midway left behind, its directory with the root and volumes mounted in it,
 * and the temp files of the pod manifest and record that a killed app command left beside them (their writer
 * gone; a live one's are another command's: `rkt run`'s stage0 writes none once the pod runs).
 */
async function discardHalfAdded(podDir: string, app: string): Promise<void> {
  const dir = join(podDir, POD_FILES.appDir(app));
  if (existsSync(dir)) {
    await unmountTree(dir, { lazy: true });
    await rm(dir, { recursive: true, force: true });
  }
  for (const name of readdirSync(podDir)) {
    const pid = TEMP_FILE.exec(name)?.[1];
    if (pid !== undefined && !alive(Number(pid))) rmSync(join(podDir, name), { force: true });
  }
}

/** One call of a stage1 app entrypoint, resolved (appEntrypoint): `run` makes it. */
interface AppEntrypointCall {
  run(): Promise<void>;
  /**
   * Whether the stage1 began to act: its module called, or its executable executed. A `run` that failed before
   * that (the executable could not be executed) changed nothing of the stage1's.
   */
  readonly started: boolean;
}

/**
 * One of the pod's app entrypoints (rkt's arguments: `--app=NAME --uuid=UUID [--debug]`, then `extra`), called in
 * the pod directory with rkt's crossing-entrypoint variables (RKT_STAGE1_ENTERCMD, _ENTERPID, _ENTERAPP), its
 * output on this process's stderr. Throws, before anything runs, when the stage1 has none; `run` throws one line
 * when it fails. A stage1 that annotates the entrypoint's module (app-module version 1) has it called in this
 * process instead: the same arguments, environment and working directory, without a second Node start (100 ms or
 * more of each app command).
 */
function appEntrypoint(o: AppPodOptions, pod: PodDetails, pid: number, kind: Stage1AppEntrypoint, app: string, extra: readonly string[] = []): AppEntrypointCall {
  const { executable: entry, module } = stage1AppEntrypoints(pod.path, kind);
  const name = kind.replace(/^app/, 'app/').toLowerCase();
  if (entry === undefined) throw new PodError('POD_STAGE1', `the stage1 of pod ${pod.uuid} has no ${name} entrypoint`, { subject: pod.uuid });
  const args = [`--app=${app}`, `--uuid=${pod.uuid}`, ...(o.debug === true ? ['--debug'] : []), ...extra];
  const env = { ...process.env, RKT_STAGE1_ENTERCMD: stage1Entrypoint(pod.path, 'enter') ?? '', RKT_STAGE1_ENTERPID: String(pid), RKT_STAGE1_ENTERAPP: app };
  const loaded = module === undefined ? undefined : 'unusable' in module ? module : loadAppModule(module.path);
  let started = false;
  const run = async (): Promise<void> => {
    if (loaded !== undefined && 'module' in loaded) {
      o.log?.(`calling the stage1 ${name} module: ${module !== undefined && 'path' in module ? module.path : entry} ${args.join(' ')}`);
      try {
        await inDirectory(pod.path, () => {
          started = true;
          return loaded.module.app(args, { podDir: pod.path, env });
        });
      } catch (err) {
        throw moduleFailure(err, `the stage1 ${name} module failed`, pod);
      }
      return;
    }
    if (loaded !== undefined) o.log?.(`pod ${pod.uuid}: not using the stage1 ${name} module: ${loaded.unusable}; executing ${entry}`);
    o.log?.(`calling the stage1 ${name} entrypoint: ${entry} ${args.join(' ')}`);
    const child = spawn(entry, args, { cwd: pod.path, env, stdio: ['ignore', 'inherit', 'pipe'] });
    child.once('spawn', () => (started = true));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const status = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
    }).catch((err: unknown) => {
      throw new PodError('POD_STAGE1', `cannot run the stage1 ${name} entrypoint ${entry}: ${(err as Error).message}`, { subject: pod.uuid, cause: err });
    });
    if (status !== 0) {
      const said = stderr.trim().split('\n').filter((l) => l !== '').pop() ?? `exit status ${status}`;
      throw new PodError('POD_STAGE1', said, { subject: pod.uuid });
    }
  };
  return {
    run,
    get started() {
      return started;
    },
  };
}

/** Calls one of the pod's app entrypoints (appEntrypoint); throws one line when it has none or it fails. */
async function callAppEntrypoint(o: AppPodOptions, pod: PodDetails, pid: number, kind: Stage1AppEntrypoint, app: string, extra: readonly string[] = []): Promise<void> {
  await appEntrypoint(o, pod, pid, kind, app, extra).run();
}

/** A stage1 module's rejection as stage0 reports it: its last line, as an executable's last line of stderr. */
function moduleFailure(err: unknown, otherwise: string, pod: PodDetails): PodError {
  const said = (err instanceof Error ? err.message : String(err)).trim().split('\n').filter((l) => l !== '').pop() ?? otherwise;
  return new PodError('POD_STAGE1', said, { subject: pod.uuid, cause: err });
}

/**
 * Asks the pod's app-add module, when it exports `check`, whether it would refuse `app` (what the add is about to
 * write in the pod manifest) before it has a root: what the running pod cannot give it is then refused before
 * anything is rendered, mounted or written. A stage1 without one (older, or executed) refuses it in its app/add.
 */
async function checkWithStage1(o: AppPodOptions, pod: PodDetails, app: RuntimeApp, insecure: Stage1AppCheckContext['insecure']): Promise<void> {
  const { module } = stage1AppEntrypoints(pod.path, 'appAdd');
  const loaded = module === undefined || 'unusable' in module ? undefined : loadAppModule(module.path);
  const check = loaded !== undefined && 'module' in loaded ? loaded.module.check : undefined;
  if (check === undefined) return;
  o.log?.(`asking the stage1 app/add module whether it can add app ${app.name}`);
  try {
    await check(app, { podDir: pod.path, uuid: pod.uuid, insecure });
  } catch (err) {
    throw moduleFailure(err, 'the stage1 app/add module refused the app', pod);
  }
}

export interface AddAppOptions extends AppPodOptions {
  readonly store: Store;
  /** The app: an image in the store (already fetched) and rkt's per-app overrides. */
  readonly app: PrepareAppInput;
  /** `--insecure-options=capabilities,paths,seccomp`: the app entrypoint's --disable-* arguments. */
  readonly insecure?: { readonly capabilities?: boolean; readonly paths?: boolean; readonly seccomp?: boolean };
}

/**
 * `rkt app add`: adds an app to a running mutable pod, created but not started: its tree rendered and referenced
 * for the pod, its root mounted at `appsinfo/<app>/rootfs` (which the stage1 shares with the pod), the app in the
 * pod manifest and stage0's record (each rewritten whole: temp + fsync + rename, under the manifest lock), then
 * the stage1's app/add entrypoint. A failure of the entrypoint undoes the rest. Resolves with the app's name.
 */
export async function addApp(o: AddAppOptions): Promise<string> {
  const { pod, pid } = await mutablePod(o, 'add');
  const bytes = await o.store.manifest(o.app.imageId);
  const image = readValidatedImageManifest(bytes, `image ${o.app.imageId}`);
  const name = o.app.name ?? defaultAppName(image.name);
  if (!isAcName(name)) throw new PodError('POD_APP', `app name ${JSON.stringify(name)} is not a valid AC Name (lowercase a-z, 0-9 and -)`, { subject: name });
  const app = effectiveApp(image, o.app, name);
  checkAppIsolators(name, app);
  // rkt's --stdin/--stdout/--stderr (its attach experiment), checked before anything changes: the stage1 serves
  // them through its attach entrypoint, which it must name.
  const annotations = streamAnnotations(o.app);
  if (annotations !== undefined) {
    try {
      appStreamModes(name, annotations);
    } catch (err) {
      throw new PodError('POD_APP', (err as Error).message, { subject: name, cause: err });
    }
    if (stage1Entrypoint(pod.path, 'attach') === undefined) {
      throw new PodError('POD_STAGE1', `app ${name}: --stdin, --stdout and --stderr modes other than the defaults need a stage1 with an attach entrypoint (${STAGE1_ANNOTATIONS.attach}); the stage1 of pod ${pod.uuid} has none`, { subject: name });
    }
  }
  const runtimeApp: RuntimeApp = {
    name,
    image: { name: image.name, id: o.app.imageId, ...(image.labels ? { labels: image.labels } : {}) },
    app,
    ...(o.app.mounts !== undefined && o.app.mounts.length > 0 ? { mounts: [...o.app.mounts] } : {}),
    ...(o.app.readOnlyRootFS !== undefined ? { readOnlyRootFS: o.app.readOnlyRootFS } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
  const insecure = { capabilities: o.insecure?.capabilities === true, paths: o.insecure?.paths === true, seccomp: o.insecure?.seccomp === true };
  await checkWithStage1(o, pod, runtimeApp, insecure);
  return withManifestLock(pod.path, async () => {
    const manifest = readManifest(pod.path);
    if (manifest.apps.some((a) => a.name === name)) throw new PodError('POD_APP', `pod ${pod.uuid} already has an app named ${JSON.stringify(name)}: give another with --name`, { subject: name });
    // What an add or rm of this app killed midway left (its directory and mounts, temp files): never the app of
    // the manifest, which it is not, and no other command's, under this lock.
    await discardHalfAdded(pod.path, name);
    const info = await readPodInfo(pod.path);
    // Its volumes, checked before anything changes: its own (`--mnt-volume`, a mount's appVolume), the pod's, and
    // an empty one for each mount point of its image that nothing serves (as preparePod makes them).
    const podVolumes = manifest.volumes ?? [];
    const own = (o.app.mounts ?? []).flatMap((m) => (m.appVolume !== undefined ? [m.appVolume] : []));
    for (const v of own) {
      if (podVolumes.some((p) => p.name === v.name)) throw new PodError('POD_VOLUME', `app ${JSON.stringify(name)}: volume ${JSON.stringify(v.name)} is a volume of the pod already`, { subject: v.name });
    }
    if (own.length > 0) await checkVolumes(own);
    const volumeInput = { name, mounts: o.app.mounts ?? [], mountPoints: app.mountPoints ?? [] };
    const implicit = implicitVolumes(podVolumes, [volumeInput]);
    const mounts = appMounts(volumeInput, [...podVolumes, ...implicit]);
    const emptyVolumes = [...implicit, ...own].filter((v) => v.kind === 'empty' && !existsSync(join(pod.path, POD_FILES.volume(v.name))));
    // What the pod pinned before this add, so that its undo unpins only what the add alone pinned (the app's image
    // and tree, when no other app of the pod uses them): else `rkt image rm` and gc keep them while the pod lives.
    const pinned = await o.store.podRef(pod.uuid);
    const dir = join(pod.path, POD_FILES.appDir(name));
    const rootfs = join(pod.path, POD_FILES.appRootfs(name));
    let mounted = false;
    let written = false;
    const madeVolumes: string[] = [];
    try {
      const [tree] = await o.store.renderAll([o.app.imageId], { pod: { podUuid: pod.uuid, podDirs: referencingPodDirs(o.dataDir, pod.uuid) } });
      for (const v of emptyVolumes) {
        const vdir = join(pod.path, POD_FILES.volume(v.name));
        await mkdir(vdir, { recursive: true });
        madeVolumes.push(vdir);
        await chmod(vdir, Number.parseInt(v.kind === 'empty' ? (v.mode ?? '0755') : '0755', 8));
        const shift = info.privateUsers?.shift ?? 0;
        if (v.kind === 'empty') await chown(vdir, shift + (v.uid ?? 0), shift + (v.gid ?? 0));
      }
      await mkdir(rootfs, { recursive: true });
      await Promise.all([
        mkdir(join(pod.path, POD_FILES.appUpper(name)), { recursive: true }),
        mkdir(join(pod.path, POD_FILES.appWork(name)), { recursive: true }),
        writeFileAtomic(join(pod.path, POD_FILES.appManifest(name)), bytes),
        writeFileAtomic(join(pod.path, POD_FILES.appTreeId(name)), tree!.id),
      ]);
      const { mode } = await mountAppRootfs({
        lower: tree!.rootfs,
        target: rootfs,
        upper: join(pod.path, POD_FILES.appUpper(name)),
        work: join(pod.path, POD_FILES.appWork(name)),
        mode: info.rootfsMode,
        dataDir: o.dataDir,
        fresh: true,
        ...(info.privateUsers !== undefined ? { idmap: info.privateUsers } : {}),
        ...(o.log ? { debug: o.log } : {}),
      });
      mounted = true;
      o.log?.(`app ${name}: rootfs set up (${mode})`);
      // Under appsinfo, which the stage1 shares with the running pod: they reach the app's root there too.
      if (mounts.length > 0) await mountAppVolumes(pod.path, name, rootfs, mounts);
      const appInfo: PodAppInfo = { name, imageId: o.app.imageId, imageName: image.name, treeId: tree!.id, lower: dataDirRelative(o.dataDir, tree!.rootfs), ...(mounts.length > 0 ? { mounts } : {}) };
      const volumes = [...podVolumes, ...implicit];
      // Marked before the manifest names the app: whatever cuts this add short from here (a kill of the whole
      // command, which runs no undo), the app is shown as adding, which `rkt app rm` removes, and refused to app
      // start and stop, which its units (maybe never written by the stage1) could not serve.
      await markApp(dir, APP_ADDING, true);
      // The manifest first, the record second (and the reverse in removeApp): a kill between the two leaves the
      // app in the manifest only (adding, above), never an app in the record alone, which no app command could name.
      written = true;
      await writeFileAtomic(join(pod.path, POD_FILES.manifest), JSON.stringify({ ...manifest, apps: [...manifest.apps, runtimeApp], ...(volumes.length > 0 ? { volumes } : {}) }));
      await writePodInfo(pod.path, { ...info, apps: [...info.apps.filter((a) => a.name !== name), appInfo] });
      await syncDir(pod.path);
      writeFileSync(join(dir, APP_CREATED), '');
      const flags = { capabilities: '--disable-capabilities-restriction', paths: '--disable-paths', seccomp: '--disable-seccomp' };
      await callAppEntrypoint(o, pod, pid, 'appAdd', name, (['capabilities', 'paths', 'seccomp'] as const).filter((k) => insecure[k]).map((k) => flags[k]));
    } catch (err) {
      // As it was: the manifest and the record without the app, its root unmounted and its directory gone.
      if (written) {
        await writePodInfo(pod.path, info);
        await writeFileAtomic(join(pod.path, POD_FILES.manifest), JSON.stringify(manifest));
        // On disk before the directory, its adding mark with it, goes: a power loss must not keep the app in the
        // manifest without its mark.
        await syncDir(pod.path);
      }
      // Its root, and what the process running the pod bound in its directory meanwhile (an app's terminal).
      if (mounted || existsSync(dir)) await unmountTree(dir, { lazy: true });
      await rm(dir, { recursive: true, force: true });
      for (const v of madeVolumes) await rm(v, { recursive: true, force: true });
      await unpinAdded(o, pod.uuid, pinned);
      throw err;
    }
    // Added: outside the undo above, which must not take out an app the stage1 added if this removal failed.
    await unmarkApp(dir, APP_ADDING);
    o.bus?.publish(podEvent('app/added', pod.uuid, { app: name, image: image.name }));
    return name;
  });
}

/**
 * An add undone: unpins for the pod what its render pinned beyond `before` (the pod's reference before it). A
 * failure here is logged, not thrown: the add's own error is the one to report, and what stays pinned is
 * released with the pod.
 */
async function unpinAdded(o: AddAppOptions, uuid: string, before: { readonly images: readonly string[]; readonly trees: readonly string[] } | undefined): Promise<void> {
  try {
    const now = await o.store.podRef(uuid);
    if (now === undefined) return;
    const images = now.images.filter((i) => before?.images.includes(i) !== true);
    const trees = now.trees.filter((t) => before?.trees.includes(t) !== true);
    if (images.length > 0 || trees.length > 0) await o.store.unreferencePod(uuid, { images, trees });
  } catch (err) {
    o.log?.(`cannot unpin the images of the app add undone: ${(err as Error).message}`);
  }
}

/** `rkt app start`: starts an app of a running mutable pod (again, after a stop). */
export async function startApp(o: AppPodOptions & { readonly app: string }): Promise<void> {
  const { pod, pid } = await mutablePod(o, 'start');
  await withManifestLock(pod.path, async () => {
    const app = manifestApp(pod, readManifest(pod.path), o.app);
    checkNotRemoving(pod, app.name, 'start');
    // The run's mark, before the stage1 starts it (where rkt 1.30's StartApp created it too): an exit written from
    // now on is this run's (watchMutableAppExits), whatever becomes of this process after the stage1's start.
    const started = join(pod.path, POD_FILES.appStarted(app.name));
    writeFileSync(started, '');
    try {
      await callAppEntrypoint(o, pod, pid, 'appStart', app.name);
    } catch (err) {
      rmSync(started, { force: true });
      throw err;
    }
    o.bus?.publish(podEvent('app/started', pod.uuid, { app: app.name, image: app.image.name }));
    // On the server before the lock is let go: the process running the pod publishes this run's `app/exited` only
    // once no app command holds the lock, so a subscriber gets the start first, however soon the app ends.
    await o.bus?.flush?.();
  });
}

/**
 * `rkt app stop`: stops an app of a running mutable pod; resolves with its exit status, when it has one. Its
 * `app/exited` is the pod's run's to publish (`runPod({mutable})`), as for an app that ends by itself.
 */
export async function stopApp(o: AppPodOptions & { readonly app: string }): Promise<number | undefined> {
  const { pod, pid } = await mutablePod(o, 'stop');
  return withManifestLock(pod.path, async () => {
    const app = manifestApp(pod, readManifest(pod.path), o.app);
    checkNotRemoving(pod, app.name, 'stop');
    await callAppEntrypoint(o, pod, pid, 'appStop', app.name);
    return readAppExit(pod.path, app.name);
  });
}

/**
 * `rkt app rm`: removes an app from a running mutable pod: the stage1's app/rm (which stops it first), then its
 * root unmounted and its directory removed, and the app dropped from the manifest and stage0's record.
 */
export async function removeApp(o: AppPodOptions & { readonly app: string }): Promise<void> {
  const { pod, pid } = await mutablePod(o, 'remove');
  await withManifestLock(pod.path, async () => {
    const manifest = readManifest(pod.path);
    const app = manifestApp(pod, manifest, o.app);
    const rm = appEntrypoint(o, pod, pid, 'appRm', app.name);
    // Marked before the stage1 acts: whatever then cuts this command short, the app is shown as removing and
    // refused to app start and stop, which its units (gone once the stage1's app/rm ran on) could not serve.
    const dir = join(pod.path, POD_FILES.appDir(app.name));
    const newDir = mkdirSync(dir, { recursive: true }) !== undefined;
    const cutShortBefore = existsSync(join(dir, APP_REMOVING));
    await markApp(dir, APP_REMOVING, newDir);
    try {
      await rm.run();
    } catch (err) {
      // Its executable could not be executed: the app is as it was, unless an earlier rm was cut short.
      if (!rm.started && !cutShortBefore) await unmarkApp(dir, APP_REMOVING);
      throw err;
    }
    const info = await readPodInfo(pod.path);
    // The record first, then the manifest (addApp's order reversed): a kill between them leaves the app in the
    // manifest only, which the next `rkt app rm` removes; one after them leaves its directory, which the next
    // `rkt app add` of its name clears (discardHalfAdded), or gc with the pod. So the directory's removal, its
    // removing mark with it, needs no sync: once the synced manifest drops the app, no app command reads it.
    await writePodInfo(pod.path, { ...info, apps: info.apps.filter((a) => a.name !== app.name) });
    await writeFileAtomic(join(pod.path, POD_FILES.manifest), JSON.stringify({ ...manifest, apps: manifest.apps.filter((a) => a.name !== app.name) }));
    await syncDir(pod.path);
    await unmountTree(join(pod.path, POD_FILES.appDir(app.name)), { lazy: true });
    rmSync(join(pod.path, POD_FILES.appDir(app.name)), { recursive: true, force: true });
    o.bus?.publish(podEvent('app/removed', pod.uuid, { app: app.name }));
  });
}

/** rkt's lib.App: what `rkt app list` and `rkt app status` show of an app; times in nanoseconds since the epoch. */
export interface AppState {
  readonly name: string;
  /**
   * rkt's states: `created` (added, never started), `running`, `exited`; `unknown` when nothing tells; and
   * rkt-ts's `removing`: an `rkt app rm` of it began and did not finish (another finishes it); and `adding`: its
   * `rkt app add` is running, or did not finish (cut short before its undo: `rkt app rm` removes it).
   */
  readonly state: 'created' | 'running' | 'exited' | 'unknown' | 'removing' | 'adding';
  readonly imageId: string;
  readonly createdAt?: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly exitCode?: number;
}

function mtimeNs(path: string): number | undefined {
  try {
    return Number(statSync(path, { bigint: true }).mtimeNs);
  } catch {
    return undefined;
  }
}

/**
 * The apps of a pod (any pod: one `rkt run` made too) and their states, as rkt's `AppsForPod`: an app with an exit
 * status has exited; one started (by `rkt app start`, or with its pod) without one runs, while its pod does; one
 * only added is created; one whose `rkt app rm` began and did not finish is removing, whatever else it shows, and
 * one whose `rkt app add` did not finish (or still runs) is adding.
 */
export async function listApps(o: { readonly dataDir: string; readonly uuid: string; readonly app?: string }): Promise<AppState[]> {
  const pod = await podDetails(findPod(o.dataDir, o.uuid));
  if (!existsSync(join(pod.path, POD_FILES.manifest))) return [];
  const manifest = readManifest(pod.path);
  const mutable = isMutableManifest(manifest);
  const podCreated = pod.createdAt !== undefined ? pod.createdAt.getTime() * 1e6 : undefined;
  const podStarted = pod.startedAt !== undefined ? pod.startedAt.getTime() * 1e6 : undefined;
  return manifest.apps
    .filter((a) => o.app === undefined || a.name === o.app)
    .map((a) => {
      const dir = join(pod.path, POD_FILES.appDir(a.name));
      const exitPath = join(pod.path, POD_FILES.appExit(a.name));
      const exitCode = readAppExit(pod.path, a.name);
      const createdAt = mtimeNs(join(dir, APP_CREATED)) ?? podCreated;
      // A mutable pod's app starts with `rkt app start`; any other with its pod.
      const startedAt = mutable ? mtimeNs(join(dir, APP_STARTED)) : podStarted;
      const finishedAt = exitCode !== undefined ? mtimeNs(exitPath) : undefined;
      const state: AppState['state'] = existsSync(join(dir, APP_REMOVING))
        ? 'removing'
        : existsSync(join(dir, APP_ADDING)) ? 'adding'
        : exitCode !== undefined ? 'exited' : startedAt !== undefined ? (pod.state === 'running' ? 'running' : 'unknown') : pod.state === 'running' || pod.state === 'prepared' || mutable ? 'created' : 'unknown';
      return {
        name: a.name,
        state,
        imageId: a.image.id ?? '',
        ...(createdAt !== undefined ? { createdAt } : {}),
        ...(startedAt !== undefined ? { startedAt } : {}),
        ...(finishedAt !== undefined ? { finishedAt } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
      };
    });
}
