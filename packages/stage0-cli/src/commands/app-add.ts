import { addApp, type PrepareAppInput } from '@rkt/controller';
import { isAcName } from '@rkt/appc-spec/lean';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { parseOneApp } from './pods/app-args.js';
import { parseMountVolumeFlag } from './pods/volumes.js';
import { cliBus, openCliStore } from './pods/common.js';
import { resolveImageArg } from './pods/images.js';

/**
 * `rkt app add UUID IMAGE [APP FLAGS] [-- ARG...]` (RKT_EXPERIMENT_APP): adds an app to a running mutable pod,
 * created, not started, with rkt's per-app flags (`--name`, `--exec`, `--user`, `--group`, `--working-dir`,
 * `--environment`, `--supplementary-gids`, `--readonly-rootfs`, `--user-annotation`, `--user-label`, the
 * isolator flags, and `--stdin/--stdout/--stderr` under RKT_EXPERIMENT_ATTACH) and rkt's `--mnt-volume` (a volume of the app's own with its mount). The image comes from the
 * store, as rkt's (pull policy `never`): an image ID, a name, or the stored download of a URL; an ACI file is
 * imported, which rkt's file fetcher did whatever the policy. Anything else is refused in one line, the pod as it was.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const before = ctx.argsLenAtDash < 0 ? args.length : ctx.argsLenAtDash;
  if (before !== 2) throw new CliError('CLI_BAD_ARGS', 'must give the pod UUID and one IMAGE (arguments of the app after "--")', { hint: 'run "rkt help app add" for usage' });
  const [uuid, image] = args as [string, string];
  // Every flag is checked before the store is opened: a typo costs nothing.
  const mounts = ctx.flags.strings('mnt-volume').map(parseMountVolumeFlag);
  const input = { ...parseOneApp(ctx, args.slice(2)), ...(mounts.length > 0 ? { mounts } : {}) };
  refuseForRunningPod(ctx, input);
  const store = await openCliStore(ctx);
  const hold = store.hold('pod');
  try {
    const imageId = await resolveImageArg(ctx, store, image, { hold, strict: true, dependencies: false }, 'never');
    await addApp({
      dataDir: ctx.dataDir(),
      uuid,
      store,
      app: { ...input, imageId },
      debug: ctx.globals.debug,
      bus: cliBus(ctx),
      log: (m) => ctx.log.debug(m),
      insecure: {
        capabilities: ctx.globals.insecureOptions.skipCapabilities,
        paths: ctx.globals.insecureOptions.skipPaths,
        seccomp: ctx.globals.insecureOptions.skipSeccomp,
      },
    });
  } finally {
    await hold.release();
  }
}

/**
 * What the running pod cannot give an added app, as far as the flags alone say it, refused before the store is
 * opened. The rest (an image whose manifest asks for such isolators, capabilities beyond the pod's nspawn) is the
 * stage1's to say: `addApp` asks its app-add module's `check` before anything of the add is written; a stage1
 * without one refuses it in its app/add, after the writes, which are then undone.
 */
function refuseForRunningPod(ctx: CommandContext, input: Omit<PrepareAppInput, 'imageId'>): void {
  if (input.name !== undefined && !isAcName(input.name)) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `app name ${JSON.stringify(input.name)} is not a valid AC Name (lowercase a-z, 0-9 and -)`);
  }
  // The sandbox's nspawn started without apps, in a cgroup layout without the memory and cpu controllers.
  const controllers: Record<string, string> = { memory: 'memory', cpu: 'cpu', 'cpu-shares': 'cpu' };
  for (const [flagName, controller] of Object.entries(controllers)) {
    const values = ctx.flags.strings(flagName);
    if (values.length === 0) continue;
    throw new CliError('CLI_BAD_FLAG_VALUE', `--${flagName}=${values[values.length - 1]!}: needs the ${controller} cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)`);
  }
}
