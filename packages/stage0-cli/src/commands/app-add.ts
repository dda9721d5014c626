import { addApp, type PrepareAppInput } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { cliBus, openCliStore } from './pods/common.js';
import { resolveImageArg } from './pods/images.js';

/** `--environment=NAME=VALUE`, as rkt's per-app flag. */
function envPair(pair: string): { name: string; value: string } {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new CliError('CLI_BAD_FLAG_VALUE', `--environment ${JSON.stringify(pair)}: expected NAME=VALUE`);
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
}

/**
 * `rkt app add UUID IMAGE [--name=NAME] [--exec=CMD] [--user=U] [--group=G] [--working-dir=DIR]
 * [--environment=NAME=VALUE]... [-- ARG...]` (RKT_EXPERIMENT_APP): adds an app to a running mutable pod,
 * created, not started. The image is found in the store or fetched as `rkt run` fetches (pull policy `new`).
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const before = ctx.argsLenAtDash < 0 ? args.length : ctx.argsLenAtDash;
  if (before !== 2) throw new CliError('CLI_BAD_ARGS', 'must give the pod UUID and one IMAGE (arguments of the app after "--")', { hint: 'run "rkt help app add" for usage' });
  const [uuid, image] = args as [string, string];
  const workingDir = ctx.flags.string('working-dir');
  if (workingDir !== '' && !workingDir.startsWith('/')) throw new CliError('CLI_BAD_FLAG_VALUE', `--working-dir ${JSON.stringify(workingDir)}: must be an absolute path`);
  const environment = ctx.flags.strings('environment').map(envPair);
  const input: Omit<PrepareAppInput, 'imageId'> = {
    ...(ctx.flags.string('name') !== '' ? { name: ctx.flags.string('name') } : {}),
    ...(ctx.flags.string('exec') !== '' ? { exec: ctx.flags.string('exec') } : {}),
    ...(args.length > 2 ? { args: args.slice(2) } : {}),
    ...(ctx.flags.string('user') !== '' ? { user: ctx.flags.string('user') } : {}),
    ...(ctx.flags.string('group') !== '' ? { group: ctx.flags.string('group') } : {}),
    ...(workingDir !== '' ? { workingDirectory: workingDir } : {}),
    ...(environment.length > 0 ? { environment } : {}),
  };
  const store = await openCliStore(ctx);
  const hold = store.hold('pod');
  try {
    const imageId = await resolveImageArg(ctx, store, image, { hold, strict: true, dependencies: false }, 'new');
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
