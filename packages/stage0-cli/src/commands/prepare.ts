import type { CommandContext } from '../command.js';
import { prepareFromCli } from './pods/common.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const pod = await prepareFromCli(ctx, args, false);
  if (!ctx.flags.bool('quiet')) ctx.log.debug(`prepared pod ${pod.uuid} at ${pod.path}`);
  ctx.stdout.write(`${pod.uuid}\n`);
  return 0;
}
