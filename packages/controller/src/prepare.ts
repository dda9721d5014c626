import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
// Lean: the images' manifests come out of the store, validated at import; what the user gives is
// validated where it is written (podManifestText).
import {
  isAcName,
  readValidatedImageManifest,
  type App,
  type EnvironmentVariable,
  type ImageManifest,
  type Mount,
  type PodManifest,
  type RuntimeApp,
  type Volume,
} from '@rkt/appc-spec/lean';
import { uniqueName, type Store, type TreeInfo } from '@rkt/image-store';
import { checkAppIsolators } from './app-isolators.js';
import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { syncDir, writeFileAtomic } from './fsutil.js';
import { writePodInfo, type PodAppInfo } from './info.js';
import { tryLockDir, unlock } from './lock.js';
import { POD_FILES, POD_FORMAT_VERSION, podPath, podsDir, referencingPodDirs, STATE_DIRS } from './layout.js';
import { dataDirRelative, stage1LinkTarget } from './data-dir-paths.js';
import { checkNetWithPrivateUsers, checkStage1Manifest, checkStage1Mutable, checkStage1Net, checkStage1PrivateUsers, checkStage1Streams, MUTABLE_POD_ANNOTATION } from './stage1.js';
import { APP_STREAM_ANNOTATIONS, APP_STREAM_NAMES, appStreamModes, isDefaultStreamModes, type AppStreamName } from './stage1-abi/app-streams.js';
import { podManifestText } from './pod-manifest-text.js';
import { portFlagText, portWithoutCniNetProblem } from './ports-net.js';
import { createEmptyVolumes } from './mount-volumes.js';
import { appMounts, checkVolumes, implicitVolumes } from './volumes.js';
import { isoNow } from './time.js';

/** One app of a pod to prepare: an image in the store and rkt's per-app overrides. */
export interface PrepareAppInput {
  readonly imageId: string;
  /** `--name`; default: the last path element of the image name, as rkt's. */
  readonly name?: string;
  /** `--exec`: replaces the image's program. */
  readonly exec?: string;
  /** Arguments after `--`: appended to the image's exec (or to `--exec`), as rkt's `run` and `prepare` did. */
  readonly args?: readonly string[];
  readonly user?: string;
  readonly group?: string;
  readonly workingDirectory?: string;
  /** `--set-env`/`--set-env-file`, in order: a later one wins. */
  readonly environment?: readonly EnvironmentVariable[];
  /** `--mount`s that apply to this app (the global ones and its own), in order. */
  readonly mounts?: readonly Mount[];
  /** `--memory`, `--cpu`, `--caps-retain`, `--seccomp`...: each replaces the image's isolator of its kind. */
  readonly isolators?: readonly AppIsolator[];
  /** `--supplementary-gids`: replaces the image's `supplementaryGIDs`, as rkt's generateRuntimeApp did. */
  readonly supplementaryGIDs?: readonly number[];
  /** `--user-annotation`, `--user-label`: the app's `userAnnotations` and `userLabels` (replacing the image's, as rkt's). */
  readonly userAnnotations?: Readonly<Record<string, string>>;
  readonly userLabels?: Readonly<Record<string, string>>;
  /** `--readonly-rootfs`: the runtime app's `readOnlyRootFS`, which the stage1 applies. */
  readonly readOnlyRootFS?: boolean;
  /**
   * `--stdin`, `--stdout`, `--stderr` (RKT_EXPERIMENT_ATTACH): rkt's stream modes, written as the runtime app's
   * annotations `coreos.com/rkt/stage2/stdin`... (`APP_STREAM_ANNOTATIONS`) for the stage1; only those given.
   */
  readonly streams?: Readonly<Partial<Record<AppStreamName, string>>>;
}

type AppIsolator = NonNullable<App['isolators']>[number];

/** A capability or seccomp set replaces the image's set of either mode (retain or remove), as rkt's flags did. */
function isolatorKind(name: string): string {
  return name.replace(/-(?:retain|remove)-set$/, '-set');
}

function mergeIsolators(base: readonly AppIsolator[] | undefined, extra: readonly AppIsolator[] | undefined): AppIsolator[] | undefined {
  if (extra === undefined || extra.length === 0) return base === undefined ? undefined : [...base];
  const replaced = new Set(extra.map((i) => isolatorKind(i.name)));
  return [...(base ?? []).filter((i) => !replaced.has(isolatorKind(i.name))), ...extra];
}

export interface PrepareOptions {
  readonly dataDir: string;
  readonly store: Store;
  readonly stage1ImageId: string;
  /** The apps, or `podManifest` (`--pod-manifest`) whose apps name images in the store. */
  readonly apps?: readonly PrepareAppInput[];
  readonly podManifest?: PodManifest;
  /** `--volume`s (with `apps`; a `podManifest` carries its own). */
  readonly volumes?: readonly Volume[];
  /**
   * rkt's `--port=NAME:[HOSTIP:]HOSTPORT`s, the pod manifest's `ports` (with `apps`; a `podManifest` carries
   * its own): each NAME must be a port of one of the pod's apps (its image's `ports`), checked before anything
   * is made, unless the entry has a `podPort` (rkt's form of `rkt app sandbox --port`, a pod port itself). A
   * stage1 with CNI networks forwards them.
   */
  readonly ports?: NonNullable<PodManifest['ports']>;
  readonly rootfsMode: 'auto' | 'copy';
  readonly inheritEnv: boolean;
  /**
   * The network the pod is to run with (`rkt run --net`: `host`, `none` or rkt's CNI list): a stage1 that
   * cannot give it is refused before anything is made (`checkStage1Net`). rkt's prepare has no `--net`;
   * run-prepared's is checked by `runPod`.
   */
  readonly net?: string;
  /**
   * `--private-users`: the pod runs in a user namespace of its own, over a range of host IDs picked here
   * (`pickPrivateUsers`), of a stage1 that says it can (`checkStage1PrivateUsers`: refused otherwise, before
   * anything is made).
   */
  readonly privateUsers?: boolean;
  readonly bus?: EventBus;
  /**
   * Keep the pod locked and return the lock: `rkt run` goes on to run it, so no one else may. The move to
   * `prepared` is then left for `runPod`'s move to `run` to make durable (its directory sync covers both):
   * a crash before that leaves the pod in `prepare` or `prepared`, which gc removes either way.
   */
  readonly keepLock?: boolean;
  /**
   * Called with the new pod's UUID once its directory exists (locked, in `prepare`), before anything is
   * rendered into it; if it throws, the pod is removed and preparePod throws that. rkt wrote
   * `--uuid-file-save` at this point, so the file names any pod a later failure or crash leaves for gc.
   */
  readonly onCreated?: (uuid: string) => void | Promise<void>;
  /**
   * rkt's `rkt app sandbox`: a mutable pod (`coreos.com/rkt/stage1/mutable: true` in its manifest), which may have
   * no app, of a stage1 of interface version 5 or later that names the app entrypoints (`checkStage1Mutable`).
   */
  readonly mutable?: boolean;
  /** The pod's own `userAnnotations` and `userLabels` (rkt's `app sandbox --user-annotation/--user-label`), with `apps`. */
  readonly userAnnotations?: Readonly<Record<string, string>>;
  readonly userLabels?: Readonly<Record<string, string>>;
}

export interface PreparedPod {
  readonly uuid: string;
  readonly path: string;
  /** With `keepLock`: the locked handle of the pod directory, for `runPod`. */
  readonly lockFd: number | undefined;
  /**
   * With `keepLock`: what the pod still waits for to be durable (the sync of its store reference), for `runPod`
   * (`RunOptions.pending`) to finish beside its own work before the stage1 starts.
   */
  readonly pending?: Promise<void>;
}

/** rkt's SanitizeACName: the image name's last element made a valid AC Name. */
export function defaultAppName(imageName: string): string {
  const base = imageName.split('/').pop() ?? imageName;
  const name = base.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return name === '' ? 'app' : name;
}

function mergeEnv(base: readonly EnvironmentVariable[] | undefined, extra: readonly EnvironmentVariable[] | undefined): EnvironmentVariable[] | undefined {
  if (extra === undefined || extra.length === 0) return base === undefined ? undefined : [...base];
  const byName = new Map<string, string>();
  for (const v of base ?? []) byName.set(v.name, v.value);
  for (const v of extra) byName.set(v.name, v.value);
  return [...byName].map(([name, value]) => ({ name, value }));
}

/** The app section a pod runs: the image's, with the user's overrides applied. */
export function effectiveApp(image: ImageManifest, input: PrepareAppInput, appName: string): App {
  const base = image.app;
  const user = input.user ?? base?.user;
  const group = input.group ?? base?.group;
  if (user === undefined || group === undefined) {
    throw new PodError('POD_APP', `app ${JSON.stringify(appName)}: image ${image.name} has no app section; give --exec, --user and --group`, {
      subject: appName,
    });
  }
  const program = input.exec ?? base?.exec?.[0];
  if (program === undefined) {
    throw new PodError('POD_APP', `app ${JSON.stringify(appName)}: image ${image.name} has no exec; give one with --exec`, { subject: appName });
  }
  // A relative exec (`sh`, Docker's usual `Cmd`) is kept as given: appc looks a name up in the app's PATH, and
  // only the stage1 sees the app's root filesystem as the app will, so the stage1 resolves it (as rkt's did).
  if (program === '') {
    throw new PodError('POD_APP', `app ${JSON.stringify(appName)}: exec is an empty string; give a program with --exec`, { subject: appName });
  }
  // rkt's generateRuntimeApp: --exec replaces the whole exec, and the arguments are appended to what is left
  // (`rkt app add` alone replaced the image's arguments).
  const args = [...(input.exec !== undefined ? [] : (base?.exec?.slice(1) ?? [])), ...(input.args ?? [])];
  const env = mergeEnv(base?.environment, input.environment);
  const workingDirectory = input.workingDirectory ?? base?.workingDirectory;
  const isolators = mergeIsolators(base?.isolators, input.isolators);
  return {
    ...(base ?? {}),
    exec: [program, ...args],
    user,
    group,
    ...(workingDirectory !== undefined ? { workingDirectory } : {}),
    ...(env !== undefined ? { environment: env } : {}),
    ...(isolators !== undefined ? { isolators } : {}),
    ...(input.supplementaryGIDs !== undefined ? { supplementaryGIDs: [...input.supplementaryGIDs] } : {}),
    ...(input.userAnnotations !== undefined ? { userAnnotations: { ...input.userAnnotations } } : {}),
    ...(input.userLabels !== undefined ? { userLabels: { ...input.userLabels } } : {}),
  };
}

/**
 * Creates a pod directory and brings it to `prepared`: embryo (created), prepare (locked while
 * the images are rendered and referenced, so a crash leaves an "aborted prepare" that gc removes),
 * then prepared. The pod manifest written is reified: every app names its image by full ID.
 */
/**
 * A random (version 4) UUID from the kernel, as node:crypto's randomUUID makes one: loading node:crypto
 * would cost ~10 ms of every `rkt run`, which otherwise needs no hash.
 */
function randomUuid(): string {
  let uuid: string;
  try {
    uuid = readFileSync('/proc/sys/kernel/random/uuid', 'latin1').trim();
  } catch {
    uuid = '';
  }
  return /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid) ? uuid : process.getBuiltinModule('node:crypto').randomUUID();
}

/** The size of a pod's ID range: the 16 bits of IDs an image's files and users are expected to use, as rkt's. */
export const PRIVATE_USERS_COUNT = 0x10000;

/**
 * A pod's range of host IDs for `--private-users`: a random multiple of 65536 from 0x80000 (above the IDs of
 * the host's own users and the usual /etc/subuid ranges) below 2^31, as rkt picked its UidRange at random. Two
 * pods may get one range (1 in 32760), as they could with rkt: both then map to the same unprivileged IDs.
 */
export function pickPrivateUsers(): { shift: number; count: number } {
  const blocks = 0x7fff - 8;
  return { shift: (8 + Math.floor(Math.random() * blocks)) * PRIVATE_USERS_COUNT, count: PRIVATE_USERS_COUNT };
}

export async function preparePod(o: PrepareOptions): Promise<PreparedPod> {
  // Before anything is written: a bad volume leaves nothing behind.
  const volumes = o.podManifest?.volumes ?? o.volumes ?? [];
  if (volumes.length > 0) await checkVolumes(volumes);
  const uuid = randomUuid();
  await Promise.all(STATE_DIRS.map((s) => mkdir(join(podsDir(o.dataDir), s), { recursive: true, mode: 0o750 })));
  // The embryo is named after its creator (pid and start time), not the UUID: between its mkdir and its lock
  // nothing else tells a new embryo from one whose rkt was killed there, and gc removes it as soon as that
  // process is gone (a kill -9 in that window left a pod in embryo/ that gc kept for a minute).
  const embryo = join(podsDir(o.dataDir), 'embryo', uniqueName('embryo'));
  await mkdir(embryo, { mode: 0o750 });
  const fd = tryLockDir(embryo);
  if (fd === undefined) throw new PodError('POD_LOCKED', `cannot lock the new pod ${uuid}`, { subject: uuid });
  const preparing = podPath(o.dataDir, 'prepare', uuid);
  try {
    await rename(embryo, preparing);
  } catch (err) {
    unlock(fd);
    throw new PodError('POD_IO', `cannot move pod ${uuid} to prepare: ${(err as Error).message}`, { subject: uuid, cause: err });
  }
  let keep = false;
  try {
    await o.onCreated?.(uuid);
    const pending = await fillPod(o, uuid, preparing);
    const prepared = podPath(o.dataDir, 'prepared', uuid);
    await rename(preparing, prepared);
    if (o.keepLock !== true) await syncDir(join(podsDir(o.dataDir), 'prepared'));
    o.bus?.publish(podEvent('pod/prepared', uuid, { path: prepared }));
    keep = o.keepLock === true;
    return { uuid, path: prepared, lockFd: keep ? fd : undefined, ...(keep && pending !== undefined ? { pending } : {}) };
  } catch (err) {
    // Nothing is mounted yet: a failed prepare is removed at once rather than left for gc.
    await rm(preparing, { recursive: true, force: true }).catch(() => {});
    await o.store.releasePod(uuid).catch(() => {});
    throw err;
  } finally {
    if (!keep) unlock(fd);
  }
}

/** Writes the pod's files; returns what `rkt run` (keepLock) leaves to `runPod` to wait for, if anything. */
async function fillPod(o: PrepareOptions, uuid: string, dir: string): Promise<Promise<void> | undefined> {
  const podUse = { podUuid: uuid, podDirs: referencingPodDirs(o.dataDir, uuid) };

  const inputs: PrepareAppInput[] = o.podManifest
    ? o.podManifest.apps.map((a) => appInputFromManifest(a))
    : [...(o.apps ?? [])];
  if (inputs.length === 0 && o.mutable !== true) throw new PodError('POD_APP', 'a pod needs at least one app', { subject: uuid });
  // The stored manifests, copied into the pod byte for byte (as rkt did), read at once: each read waits on
  // the disk and the thread pool, not on the others. Checked in order below, so the first problem reported
  // is the same as if they were read one by one.
  const manifests = await Promise.allSettled([o.stage1ImageId, ...inputs.map((i) => i.imageId)].map((id) => o.store.manifest(id)));
  const bytesAt = (i: number): Buffer => {
    const r = manifests[i]!;
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  };

  const stage1Bytes = bytesAt(0);
  const stage1Manifest = readValidatedImageManifest(stage1Bytes, `stage1 image ${o.stage1ImageId}`);
  const interfaceVersion = checkStage1Manifest(stage1Manifest, `stage1 image ${o.stage1ImageId}`);
  if (o.mutable === true) checkStage1Mutable(stage1Manifest, interfaceVersion, o.stage1ImageId);
  checkStage1Net(stage1Manifest, o.net, o.stage1ImageId);
  checkStage1PrivateUsers(stage1Manifest, o.privateUsers === true, o.stage1ImageId);
  checkNetWithPrivateUsers(o.net, o.privateUsers === true, o.stage1ImageId);
  const privateUsers = o.privateUsers === true ? pickPrivateUsers() : undefined;

  // Every app is checked before any tree is rendered or referenced, so a bad flag fails fast.
  const apps: { input: PrepareAppInput; image: ImageManifest; name: string; app: App; fromManifest: RuntimeApp | undefined }[] = [];
  const imageBytes: Buffer[] = [];
  for (const [i, input] of inputs.entries()) {
    const bytes = bytesAt(i + 1);
    imageBytes.push(bytes);
    const image = readValidatedImageManifest(bytes, `image ${input.imageId}`);
    const name = input.name ?? defaultAppName(image.name);
    if (!isAcName(name)) throw new PodError('POD_APP', `app name ${JSON.stringify(name)} is not a valid AC Name (lowercase a-z, 0-9 and -)`, { subject: name });
    if (apps.some((a) => a.name === name)) {
      throw new PodError('POD_APP', `two apps are named ${JSON.stringify(name)}: give one another with --name`, { subject: name });
    }
    const fromManifest = o.podManifest?.apps[i];
    const app = fromManifest?.app ?? effectiveApp(image, input, name);
    checkAppIsolators(name, app);
    apps.push({ input, image, name, fromManifest, app });
  }
  checkStage1Streams(stage1Manifest, apps.map((a) => ({ name: a.name, streams: hasStreamModes(a.name, a.input, a.fromManifest) })), o.stage1ImageId);

  // Volumes: the pod's, plus an implicit empty one per mount point nothing serves (rkt's), then each
  // app's mounts, checked now so that a mount of an unknown volume fails the prepare.
  const givenVolumes = o.podManifest?.volumes ?? o.volumes ?? [];
  const volumeInputs = apps.map((a) => ({
    name: a.name,
    mounts: a.fromManifest?.mounts ?? a.input.mounts ?? [],
    mountPoints: a.app.mountPoints ?? [],
  }));
  const volumes = [...givenVolumes, ...implicitVolumes(givenVolumes, volumeInputs)];
  const mountsOf = volumeInputs.map((v) => appMounts(v, volumes));
  const ports = o.podManifest?.ports ?? o.ports ?? [];
  for (const p of ports) {
    // rkt's "podPort" form (`rkt app sandbox --port`) names the pod's port itself, no app's.
    if (p.podPort !== undefined || apps.some((a) => (a.app.ports ?? []).some((ap) => ap.name === p.name))) continue;
    const known = apps.flatMap((a) => (a.app.ports ?? []).map((ap) => ap.name));
    throw new PodError('POD_APP', `port ${JSON.stringify(p.name)}: no app of the pod has a port of that name (${known.length > 0 ? `ports: ${known.join(', ')}` : 'the apps have no ports'})`, { subject: p.name });
  }
  // A pod to run on a network no port is forwarded on (`rkt run --pod-manifest` with `ports`): refused before it is made.
  const portWrong = ports[0] !== undefined && o.net !== undefined ? portWithoutCniNetProblem(portFlagText(ports[0]), o.net) : undefined;
  if (portWrong !== undefined) throw new PodError('POD_NET', portWrong, { subject: ports[0]!.name });

  // Everything below is written into the pod directory while it is in `prepare`: nothing reads it there but
  // gc, which removes it whole after a crash, so the files are written at once rather than one after
  // another; each is still temp + fsync + rename, and the move to `prepared` comes after all of them. What
  // needs no tree is started before the store references the trees, so that its fsyncs and the store's
  // overlap.
  const writes: Array<Promise<unknown>> = [];
  // Each is seen by the allSettled below; the no-op handler keeps one that fails while the store works from
  // counting as unhandled meanwhile.
  const track = (p: Promise<unknown>): void => {
    p.catch(() => {});
    writes.push(p);
  };
  // The directories the files below are renamed into, each synced once after its last rename (syncAfter):
  // a file's own fsync does not keep its name (POSIX). `rkt prepare` syncs them all before the pod becomes
  // `prepared`; `rkt run` (keepLock) leaves them to runPod, which syncs them beside the move's sync while the
  // rootfs is mounted, so that the run path waits on none of them here.
  const durable = o.keepLock !== true;
  const syncAfter = (d: string, after: ReadonlyArray<Promise<unknown>>): void => {
    if (durable) track(Promise.all(after).then(() => syncDir(d)));
  };
  // One store transaction finds and references every tree already rendered (the usual case), rather
  // than one transaction (a LevelDB open and a snapshot rewrite, each with fsyncs) per image. Begun before the
  // pod's own files: its chain (the reference written and synced, then the index and the trees looked for) is
  // the prepare's longest, and the files below are made while it waits on the disk. It tells the trees it expects
  // (onExpected) before it references them, when it knows them then (the usual `rkt run`).
  let expectTrees: (trees: readonly TreeInfo[]) => void = () => {};
  const expectedTrees = new Promise<readonly TreeInfo[]>((resolve) => {
    expectTrees = resolve;
  });
  // `rkt run` leaves the sync of the store's reference to runPod too, as it does the pod's directories'.
  let refSynced: Promise<void> | undefined;
  const renderStarted = o.store.renderAll([o.stage1ImageId, ...apps.map((a) => a.input.imageId)], {
    pod: podUse,
    onExpected: (trees) => expectTrees(trees),
    ...(durable ? {} : { refSynced: (synced: Promise<void>) => void (refSynced = synced) }),
  });
  // Awaited below; settled before any failure of this function is reported, as the writes are.
  track(renderStarted);
  try {
    await mkdir(join(dir, 'stage1'));
  } catch (err) {
    await Promise.allSettled(writes);
    throw err;
  }
  const stage1Written = writeFileAtomic(join(dir, POD_FILES.stage1Manifest), stage1Bytes);
  track(stage1Written);
  const volumesMade = createEmptyVolumes(dir, volumes, privateUsers?.shift ?? 0);
  track(volumesMade);

  const runtimeApps: RuntimeApp[] = [];
  const appDirs: Array<Promise<unknown>> = [];
  // Each app's directory made, which its tree ID is written into: not after its manifest's fsync as well.
  const appDirsMade: Array<Promise<unknown>> = [];
  for (const [i, { input, image, name, app, fromManifest }] of apps.entries()) {
    // The app's directory first: the files below are written into it.
    const made = mkdir(join(dir, POD_FILES.appRootfs(name)), { recursive: true });
    const appDir = made.then(() =>
      Promise.all([
        mkdir(join(dir, POD_FILES.appUpper(name)), { recursive: true }),
        mkdir(join(dir, POD_FILES.appWork(name)), { recursive: true }),
        writeFileAtomic(join(dir, POD_FILES.appManifest(name)), imageBytes[i]!),
      ]),
    );
    appDirsMade.push(made);
    appDirs.push(appDir);
    track(appDir);
    runtimeApps.push({
      ...(fromManifest ?? {}),
      name,
      image: { name: image.name, id: input.imageId, ...(image.labels ? { labels: image.labels } : {}) },
      app,
      ...(input.mounts !== undefined && input.mounts.length > 0 && fromManifest === undefined ? { mounts: [...input.mounts] } : {}),
      ...(input.readOnlyRootFS !== undefined && fromManifest === undefined ? { readOnlyRootFS: input.readOnlyRootFS } : {}),
      ...withStreamAnnotations(fromManifest, input),
    });
  }
  const manifest: PodManifest = {
    ...(o.podManifest ?? {}),
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: runtimeApps,
    ...(volumes.length > 0 ? { volumes } : {}),
    ...(ports.length > 0 ? { ports: [...ports] } : {}),
    ...(o.userAnnotations !== undefined ? { userAnnotations: { ...o.userAnnotations } } : {}),
    ...(o.userLabels !== undefined ? { userLabels: { ...o.userLabels } } : {}),
    ...(o.mutable === true ? { annotations: [...(o.podManifest?.annotations ?? []).filter((a) => a.name !== MUTABLE_POD_ANNOTATION), { name: MUTABLE_POD_ANNOTATION, value: 'true' }] } : {}),
  };
  const manifestWritten = podManifestText(manifest, inputs, o.podManifest !== undefined).then((text) => writeFileAtomic(join(dir, POD_FILES.manifest), text));
  track(manifestWritten);

  // The files that name the trees (the stage1's link, each app's tree ID, the pod's record), for the trees given,
  // one per image in order; returns the record's write.
  const writeTreeFiles = (rendered: readonly TreeInfo[]): Promise<unknown> => {
    const stage1Tree = rendered[0]!;
    const trees = rendered.slice(1);
    const stage1Link = symlink(stage1LinkTarget(o.dataDir, stage1Tree.rootfs), join(dir, POD_FILES.stage1Rootfs));
    track(stage1Link);
    syncAfter(join(dir, 'stage1'), [stage1Written, stage1Link]);
    const appInfos: PodAppInfo[] = [];
    for (const [i, { input, image, name }] of apps.entries()) {
      const tree = trees[i]!;
      const treeId = appDirsMade[i]!.then(() => writeFileAtomic(join(dir, POD_FILES.appTreeId(name)), tree.id));
      track(treeId);
      syncAfter(join(dir, POD_FILES.appDir(name)), [treeId]);
      syncAfter(dirname(join(dir, POD_FILES.appUpper(name))), [appDirs[i]!]);
      const mounts = mountsOf[i]!;
      appInfos.push({ name, imageId: input.imageId, imageName: image.name, treeId: tree.id, lower: dataDirRelative(o.dataDir, tree.rootfs), ...(mounts.length > 0 ? { mounts } : {}) });
    }
    const written = writePodInfo(dir, {
      formatVersion: POD_FORMAT_VERSION,
      uuid,
      createdAt: isoNow(),
      stage1: { imageId: o.stage1ImageId, imageName: stage1Manifest.name, treeId: stage1Tree.id },
      apps: appInfos,
      rootfsMode: o.rootfsMode,
      inheritEnv: o.inheritEnv,
      ...(privateUsers !== undefined ? { privateUsers } : {}),
    });
    track(written);
    return written;
  };
  // Written for the trees the store expects, as soon as it says, beside its reference's own write and fsync rather
  // than after them: one fsync less to wait for in a row. Otherwise for the trees it returns.
  let infoWritten: Promise<unknown>;
  try {
    const first = await Promise.race([expectedTrees, renderStarted]);
    infoWritten = writeTreeFiles(first);
    const rendered = await renderStarted;
    if (rendered !== first && rendered.some((t, i) => t.id !== first[i]?.id)) {
      // The images changed while the store looked (a tree is named after its layers): the files are written again
      // for the trees it referenced, once the first ones are done.
      await Promise.allSettled(writes);
      await rm(join(dir, POD_FILES.stage1Rootfs), { force: true });
      infoWritten = writeTreeFiles(rendered);
    }
  } catch (err) {
    // The writes begun settle first: the caller removes the directory, which must not race with them.
    await Promise.allSettled(writes);
    throw err;
  }
  // appsinfo/ once every app's directory is made in it; the pod directory once its own files are renamed in.
  if (apps.length > 0) syncAfter(join(dir, 'appsinfo'), appDirs);
  // volumes/ once its empty volumes are made in it, by `rkt run` too (not left to runPod, whose pod record does
  // not list a volume no app mounts): the sync goes on beside the store's work, and a pod without empty volumes
  // (the plain run) has no volumes/ to sync.
  if (volumes.some((v) => v.kind === 'empty')) track(volumesMade.then(() => syncDir(join(dir, 'volumes'))));
  syncAfter(dir, [manifestWritten, infoWritten, volumesMade, ...appDirs]);
  // All settled before the first failure is reported: the caller removes the directory, which must not race
  // with writes still going on in it.
  const results = await Promise.allSettled(writes);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return refSynced;
}

/** The runtime app's annotations of `input.streams` (rkt's `coreos.com/rkt/stage2/*`), or undefined when none is given. */
export function streamAnnotations(input: PrepareAppInput): Array<{ name: string; value: string }> | undefined {
  const given = APP_STREAM_NAMES.filter((s) => input.streams?.[s] !== undefined);
  return given.length === 0 ? undefined : given.map((s) => ({ name: APP_STREAM_ANNOTATIONS[s], value: input.streams![s]! }));
}

/** Whether an app asks for stream modes other than the defaults: by the flags, or by a `--pod-manifest`'s annotations. */
function hasStreamModes(name: string, input: PrepareAppInput, fromManifest: RuntimeApp | undefined): boolean {
  if (fromManifest === undefined) return streamAnnotations(input) !== undefined;
  try {
    return !isDefaultStreamModes(appStreamModes(name, fromManifest.annotations));
  } catch (err) {
    throw new PodError('POD_APP', `pod manifest: ${(err as Error).message}`, { subject: name, cause: err });
  }
}

function withStreamAnnotations(fromManifest: RuntimeApp | undefined, input: PrepareAppInput): { annotations?: RuntimeApp['annotations'] } {
  const extra = fromManifest === undefined ? streamAnnotations(input) : undefined;
  return extra === undefined ? {} : { annotations: extra };
}

function appInputFromManifest(a: RuntimeApp): PrepareAppInput {
  if (a.image.id === undefined) {
    throw new PodError('POD_APP', `pod manifest: app ${JSON.stringify(a.name)} names no image ID (resolve it first)`, { subject: a.name });
  }
  return { imageId: a.image.id, name: a.name };
}
