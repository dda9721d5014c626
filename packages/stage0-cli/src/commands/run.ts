import { runPod } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { parseApps } from './pods/app-args.js';
import { prepareFromCli } from './pods/common.js';
import { checkMds, registerWithMds } from './pods/mds.js';
import { preparedPodRunOptions, runOptionsFromFlags } from './pods/run-options.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const options = runOptionsFromFlags(ctx);
  // The stage1 refuses it too, but only after a pod was prepared: refuse it here so nothing is left behind.
  const parsed = options.interactive ? parseApps(ctx, args) : [];
  if (parsed.length > 1) throw new CliError('CLI_BAD_ARGS', `--interactive supports only one app; ${parsed.length} were given`);
  // --interactive gives the one app rkt's terminal or stdin: not with stream modes of its own.
  if (parsed.some((a) => a.input.streams !== undefined)) throw new CliError('CLI_BAD_ARGS', '--interactive cannot be combined with --stdin, --stdout or --stderr');
  const mdsSocket = ctx.flags.bool('mds-register') ? ctx.flags.string('mds-socket') : undefined;
  // Before anything is prepared: without a service there is nothing to run.
  if (mdsSocket !== undefined) await checkMds(mdsSocket);
  // No --net is the host's network (rkt-ts's default), which prepare's checks (--port) must know.
  const pod = await prepareFromCli(ctx, args, true, options.net ?? 'host');
  ctx.log.debug(`pod ${pod.uuid} prepared at ${pod.path}`);
  if (mdsSocket !== undefined) {
    await registerWithMds(pod.path, pod.uuid, mdsSocket);
    ctx.log.debug(`pod ${pod.uuid} registered with the metadata service at ${mdsSocket}`);
  }
  return runPod({ ...options, dataDir: ctx.dataDir(), ...preparedPodRunOptions(pod) });
}
