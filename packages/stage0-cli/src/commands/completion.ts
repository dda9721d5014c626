import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { GLOBAL_FLAGS } from '../globals.js';
import { bashCompletion } from '../help/bash-completion.js';
import { ROOT } from './registry.js';

/** `rkt completion SHELL`: bash only, as rkt 1.30. */
export function run(ctx: CommandContext, args: readonly string[]): void {
  const shell = args[0] ?? '';
  // rkt's words: "'zsh' shell is not supported".
  if (shell !== 'bash') throw new CliError('CLI_BAD_ARGS', `'${shell}' shell is not supported (only bash)`);
  ctx.stdout.write(bashCompletion(ROOT, GLOBAL_FLAGS));
}
