import { enterPod } from '@rkt/controller';
import type { CommandContext } from '../command.js';

/** `rkt enter [--app=NAME] UUID [CMD...]`: the command's exit status is rkt's. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  // Everything after the UUID is the command (see `interspersed` in the registry); a "--" there is
  // the usual end of rkt's own flags, not part of the command.
  const [uuid = '', ...rest] = args;
  const cmd = rest[0] === '--' ? rest.slice(1) : rest;
  const app = ctx.flags.string('app');
  return enterPod({
    dataDir: ctx.dataDir(),
    uuid,
    ...(app !== '' ? { app } : {}),
    cmd,
    onDefaultCommand: (c) => ctx.log.warn(`no command specified, assuming ${JSON.stringify(c)}`),
  });
}
