import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { checkNet } from './flags.js';

/** `--net` of rkt run and run-prepared, checked before anything is prepared or run. */
export function checkNetFlag(ctx: CommandContext): void {
  // rkt's list syntax: a comma between networks, each with optional `:ARGS`.
  for (const given of ctx.flags.strings('net')) {
    for (const value of given.split(',')) {
      const wrong = checkNet(value);
      if (wrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--net=${given}: ${wrong}`);
    }
  }
}
