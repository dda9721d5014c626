import { removeApp, startApp, stopApp } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { cliBus } from './pods/common.js';

/** The pod and `--app` of `rkt app start|stop|rm UUID --app=NAME`: both required, as rkt's. */
export function podAndApp(ctx: CommandContext, args: readonly string[]): { uuid: string; app: string } {
  const app = ctx.flags.string('app');
  if (app === '') throw new CliError('CLI_BAD_ARGS', 'must give the app to act on with --app=NAME', { hint: `run "rkt help ${ctx.command.replace(/^rkt /, '')}" for usage` });
  return { uuid: args[0] as string, app };
}

function common(ctx: CommandContext, args: readonly string[]) {
  return { ...podAndApp(ctx, args), dataDir: ctx.dataDir(), debug: ctx.globals.debug, bus: cliBus(ctx), log: (m: string) => ctx.log.debug(m) };
}

/** `rkt app start UUID --app=NAME` (RKT_EXPERIMENT_APP). */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  await startApp(common(ctx, args));
}

/** `rkt app stop UUID --app=NAME`. */
export async function stop(ctx: CommandContext, args: readonly string[]): Promise<void> {
  await stopApp(common(ctx, args));
}

/** `rkt app rm UUID --app=NAME`. */
export async function rm(ctx: CommandContext, args: readonly string[]): Promise<void> {
  await removeApp(common(ctx, args));
}
