import { attachPod } from '@rkt/controller';
import type { CommandContext } from '../command.js';

/** `rkt attach [--app=NAME] [--mode=MODE] UUID` (RKT_EXPERIMENT_ATTACH): the attach entrypoint's exit status is rkt's. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const app = ctx.flags.string('app');
  return attachPod({
    dataDir: ctx.dataDir(),
    uuid: args[0] ?? '',
    ...(app !== '' ? { app } : {}),
    mode: ctx.flags.string('mode'),
    debug: ctx.globals.debug,
  });
}
