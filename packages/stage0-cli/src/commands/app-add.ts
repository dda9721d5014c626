import { addApp } from '@rkt/controller';
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
