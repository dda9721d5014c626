import { readFileSync } from 'node:fs';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { checkVolumes, createInProcessBus, portWithoutCniNetProblem, preparePod, type EventBus, type PodEvent, type PreparedPod } from '@rkt/controller/lean';
import { openStore, StoreError, writeFileAtomic, type ImageHold, type Store } from '@rkt/image-store';
import { removeDeadWriterTemps, writerTempPath, type PodManifest, type Volume } from '@rkt/appc-spec/lean';
import type { PullPolicy } from '@rkt/fetcher';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { parseApps } from './app-args.js';
import { parsePortFlags, type ExposedPortFlag } from './ports.js';
import { claimStored, ImageGone, resolveImageArg, type ImageClaim } from './images.js';
import { pullPolicyFlag } from '../fetch-options.js';
import { selectStage1 } from './stage1.js';
import { checkMountsNameVolumes, parseVolumeFlags } from './volumes.js';
import { eventsConfigOf, natsBusOptions, type EventsConfig } from './events-config.js';

export function openCliStore(ctx: CommandContext): Promise<Store> {
  return openStore({ dir: ctx.dataDir() });
}

const buses = new WeakMap<CommandContext, EventBus>();
const eventConfigs = new WeakMap<CommandContext, EventsConfig | null>();

/** The events configuration of this command's config directories, read once. */
export function cliEventsConfig(ctx: CommandContext): EventsConfig | undefined {
  let config = eventConfigs.get(ctx);
  if (config === undefined) {
    config = eventsConfigOf(ctx.globals) ?? null;
    eventConfigs.set(ctx, config);
  }
  return config ?? undefined;
}

/**
 * The event bus of one command (one per command, however many steps publish): in-process, where --debug shows
 * every lifecycle event, and, when `events.d` names a NATS server, forwarded there. The NATS client (~55 ms to
 * load) is loaded only then; events published meanwhile wait, in order. The command ends once the server has
 * them (or failed, said in one line): a bus must never fail the step it reports.
 */
export function cliBus(ctx: CommandContext): EventBus {
  const known = buses.get(ctx);
  if (known !== undefined) return known;
  const bus = createInProcessBus();
  buses.set(ctx, bus);
  if (ctx.globals.debug) {
    bus.subscribe('', (e) => ctx.log.debug(`event ${e.topic} pod=${e.podUuid} ${JSON.stringify(e.payload)}`));
  }
  const nats = cliEventsConfig(ctx)?.nats;
  if (nats !== undefined) {
    const pending: PodEvent[] = [];
    let remote: EventBus | undefined;
    const loading = import('@rkt/controller/nats').then(
      ({ createNatsBus }) => {
        const b = createNatsBus({
          ...natsBusOptions(nats),
          name: `rkt ${ctx.command}`,
          // A pod may run for days: its exit is still published after the server was away meanwhile. The end's
          // flush is bounded by the timeout whatever happens.
          maxReconnectAttempts: -1,
          onError: (err) => ctx.log.warn(`events: ${err.message}`),
        });
        for (const e of pending.splice(0)) b.publish(e);
        remote = b;
        return b;
      },
      (err: unknown) => {
        ctx.log.warn(`events: cannot load the NATS client: ${(err as Error).message}`);
        return undefined;
      },
    );
    bus.subscribe('', (e) => {
      if (remote !== undefined) remote.publish(e);
      else pending.push(e);
    });
    ctx.atEnd(async () => {
      await (await loading)?.close();
    });
    // What was published so far on the server (`rkt app start` lets go of the manifest lock only then).
    bus.flush = async () => {
      await (await loading)?.flush();
    };
  }
  return bus;
}

async function podManifestFromFlag(ctx: CommandContext, store: Store, claim: ImageClaim): Promise<PodManifest | undefined> {
  const file = ctx.flags.string('pod-manifest');
  if (file === '') return undefined;
  const path = resolvePath(ctx.cwd, file);
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    // Node's message ends with the syscall and the path, which the line already names.
    const why = (err as Error).message.replace(/, \w+(?: '.*')?$/s, '');
    throw new CliError('CLI_BAD_FLAG_VALUE', `--pod-manifest ${file}: ${why}`, { cause: err });
  }
  // zod is loaded only for a user's manifest: `rkt run IMAGE` never pays its load time.
  const { parsePodManifest } = await import('@rkt/appc-spec');
  const m = parsePodManifest(text, path);
  // What the schema allows but no pod can be, said with the file and the JSON path as the schema's errors are.
  const refuse = (at: string, why: string) => new CliError('CLI_BAD_FLAG_VALUE', `${path}: ${at}: ${why}`);
  if (m.apps.length === 0) throw refuse('apps', 'a pod needs at least one app');
  const volumeNames = (m.volumes ?? []).map((v) => v.name);
  m.apps.forEach((a, i) => {
    (a.mounts ?? []).forEach((mount, j) => {
      if (mount.appVolume !== undefined || volumeNames.includes(mount.volume)) return;
      const known = volumeNames.length === 0 ? 'the manifest has no volumes' : `volumes: ${volumeNames.join(', ')}`;
      throw refuse(`apps[${i}].mounts[${j}].volume`, `${JSON.stringify(mount.volume)} is not a volume of the pod (${known})`);
    });
  });
  // A template names images by name: resolve each to the ID the pod will run, as rkt did.
  const apps = await Promise.all(
    m.apps.map(async (a, i) => {
      const at = `apps[${i}].image`;
      let id = a.image.id;
      if (id === undefined) {
        try {
          id = (await store.resolve(a.image.labels ? { name: a.image.name ?? '', labels: a.image.labels } : (a.image.name ?? ''))).id;
        } catch (err) {
          if (err instanceof StoreError) throw new StoreError(err.code, `${path}: ${at}: ${err.message}`, { subject: err.subject, cause: err });
          throw err;
        }
      }
      if ((await claimStored(claim, id)) === undefined) {
        throw new StoreError('STORE_NOT_FOUND', `${path}: ${at}.id: no image with ID ${id} in the store`, { subject: id });
      }
      return a.image.id !== undefined ? a : { ...a, image: { ...a.image, id } };
    }),
  );
  return { ...m, apps };
}

/**
 * `--uuid-file-save`: a script waits for the file and reads it, and may do so after a reboot, so it is written as
 * the store writes its files (temp + fsync + rename, the directory synced): seen whole or not at all, never
 * empty. The temp is `appc`'s kind (`.<name>.<pid>.<start time>.<random>.tmp`), so the temps of writers killed
 * part way are removed by the next save into the directory (and by `appc build`'s, `rkt image export`'s).
 */
export async function saveUuid(given: string, path: string, uuid: string): Promise<void> {
  try {
    await writeFileAtomic(path, uuid, { tmpName: basename(writerTempPath(path)) });
    await removeDeadWriterTemps(dirname(path));
  } catch (err) {
    // Node's message ends with the syscall and the path, which the line already names.
    const why = (err as Error).message.replace(/, \w+ '.*'$/s, '');
    throw new CliError('CLI_BAD_FLAG_VALUE', `--uuid-file-save ${given}: cannot write the pod UUID: ${why}`, { cause: err });
  }
}

/**
 * A pod manifest says everything about the pod's apps, volumes and environment: rkt refused the flags that
 * would say it again ("conflicting flags set with --pod-manifest") rather than ignore them, as this did.
 */
function refuseBesidePodManifest(ctx: CommandContext, args: readonly string[]): void {
  const given = ['volume', 'mount', 'set-env', 'set-env-file', 'inherit-env', 'port'].filter((f) => (f === 'inherit-env' ? ctx.flags.bool(f) : ctx.flags.changed(f))).map((f) => `--${f}`);
  // Its images are taken from the store as they are (rkt refused the policies that would fetch or refuse them).
  const policy = ctx.flags.string('pull-policy');
  if (policy !== 'new') given.push(`--pull-policy=${policy}`);
  if (args.length > 0) given.unshift(`images (${args.join(' ')})`);
  if (given.length > 0) throw new CliError('CLI_BAD_ARGS', `conflicting flags set with --pod-manifest: ${given.join(', ')} (the manifest sets the pod's apps, volumes and environment)`);
}

/** Everything `rkt prepare` and `rkt run` share: images, stage1, the pod directory. */
export async function prepareFromCli(ctx: CommandContext, args: readonly string[], keepLock: boolean, net?: string): Promise<PreparedPod> {
  const pullPolicy = pullPolicyFlag(ctx);
  const ports = parsePortFlags(ctx.flags.strings('port'));
  // `rkt prepare` has no --net: run-prepared checks it.
  const portWrong = ports.length > 0 && net !== undefined ? portWithoutCniNetProblem(ctx.flags.strings('port')[0]!, net) : undefined;
  if (portWrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', portWrong);
  if (ctx.flags.string('pod-manifest') !== '') refuseBesidePodManifest(ctx, args);
  // Volume and mount flags are checked before the store is even opened: a typo costs nothing.
  const volumes = parseVolumeFlags(ctx.flags.strings('volume'));
  // Also with --pod-manifest, where there is no image: a per-app flag is refused rather than ignored.
  const parsedApps = parseApps(ctx, args);
  checkMountsNameVolumes(parsedApps.flatMap((a) => a.input.mounts ?? []), volumes);
  // A missing host source fails before the stage1 or any image is imported into the store.
  if (volumes.length > 0) await checkVolumes(volumes);
  const store = await openCliStore(ctx);
  // Every image this command resolves is held from then on until its pod references it (images.ts,
  // ImageClaim), and whatever the command imported is taken out again if it fails.
  const hold = store.hold('pod');
  try {
    // Each of these turns on at most once, for a new pod (the failed one is gone already): at most three.
    let strict = false;
    let dependencies = false;
    for (;;) {
      try {
        return await preparePodOnce(ctx, store, args, parsedApps, volumes, keepLock, { hold, strict, dependencies }, pullPolicy, net, ports);
      } catch (err) {
        // An image found in the store without the index was removed before the pod could reference it: resolve
        // the images again, holding each as it is found (a file is imported again, a name fetched). An image
        // that is really missing fails the same way again.
        if (err instanceof ImageGone && !strict) {
          ctx.log.debug(`preparing the pod again, holding its images: ${err.reason.message}`);
          strict = true;
          continue;
        }
        // The render missed a dependency (or found the chain wrong otherwise): resolve the images again, this
        // time fetching what their chains lack, under the pull policy (images.ts, withDependencies). A chain
        // wrong in another way (a cycle, a pinned ID that differs) fails the same way again.
        if (err instanceof StoreError && err.code === 'STORE_DEPENDENCY' && !dependencies) {
          ctx.log.debug(`preparing the pod again, with what its images' dependencies lack: ${err.message}`);
          dependencies = true;
          continue;
        }
        throw err;
      }
    }
  } catch (err) {
    await rollbackImports(ctx, hold);
    throw err;
  } finally {
    await hold.release();
  }
}

/**
 * The pod failed: the images this command imported go again (the store as it was before the command), unless
 * a pod or another rkt process uses them by now. Said at --debug; a failure to do so is a warning, and never
 * hides the reason the command failed.
 */
async function rollbackImports(ctx: CommandContext, hold: ImageHold): Promise<void> {
  if (hold.imports.length === 0) return;
  try {
    const r = await hold.rollback();
    for (const id of r.removed) ctx.log.debug(`removed ${id}, imported by this failed command`);
    for (const k of r.kept) ctx.log.debug(`kept ${k.id}, imported by this failed command: it ${k.reason}`);
  } catch (err) {
    ctx.log.warn(`the images this command imported are left in the store: ${(err as Error).message}`);
  }
}

async function preparePodOnce(
  ctx: CommandContext, store: Store, args: readonly string[], parsedApps: ReturnType<typeof parseApps>, volumes: Volume[],
  keepLock: boolean, claim: ImageClaim, pullPolicy: PullPolicy, net: string | undefined, ports: ExposedPortFlag[],
): Promise<PreparedPod> {
  const podManifest = await podManifestFromFlag(ctx, store, claim);
  if (podManifest === undefined && args.length === 0) throw new CliError('CLI_BAD_ARGS', 'requires at least one image (or --pod-manifest)');
  const stage1ImageId = await selectStage1(ctx, store, claim);
  const apps = [];
  if (podManifest === undefined) {
    for (const { image, input, signature } of parsedApps) {
      const imageId = await resolveImageArg(ctx, store, image, claim, pullPolicy, signature);
      apps.push({ ...input, imageId });
    }
  }
  const save = ctx.flags.string('uuid-file-save');
  try {
    return await preparePod({
      dataDir: ctx.dataDir(),
      store,
      stage1ImageId,
      ...(podManifest ? { podManifest } : { apps, ...(volumes.length > 0 ? { volumes } : {}), ...(ports.length > 0 ? { ports } : {}) }),
      rootfsMode: ctx.flags.bool('no-overlay') ? 'copy' : 'auto',
      inheritEnv: ctx.flags.bool('inherit-env'),
      ...(net !== undefined ? { net } : {}),
      ...(ctx.flags.bool('private-users') ? { privateUsers: true } : {}),
      bus: cliBus(ctx),
      keepLock,
      ...(save !== '' ? { onCreated: (uuid: string) => saveUuid(save, resolvePath(ctx.cwd, save), uuid) } : {}),
    });
  } catch (err) {
    // Resolved, then not found by the pod: removed in between (only an image not held can be).
    if (!claim.strict && err instanceof StoreError && err.code === 'STORE_NOT_FOUND') throw new ImageGone(err);
    throw err;
  }
}
