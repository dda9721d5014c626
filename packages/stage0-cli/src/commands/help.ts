import type { CommandContext, CommandSpec } from '../command.js';
import { findSubcommand } from '../argv/parse.js';
import { CliError } from '../errors.js';
import { GLOBAL_FLAGS } from '../globals.js';
import { renderUsage } from '../help/usage.js';
import { ROOT } from './registry.js';

/** `rkt help [command...]`: the same text as `rkt [command...] --help`. */
export function run(ctx: CommandContext, args: readonly string[]): void {
  const path: CommandSpec[] = [];
  let node = ROOT;
  for (const word of args) {
    const child = findSubcommand(node, word);
    if (child === undefined) {
      const parent = ['rkt', ...path.map((c) => c.name)].join(' ');
      const topic = JSON.stringify(args.join(' '));
      throw new CliError('CLI_UNKNOWN_COMMAND', `unknown help topic ${topic}: no command ${JSON.stringify(word)} in "${parent}"`, {
        hint: 'run "rkt help" for the list of commands',
      });
    }
    path.push(child);
    node = child;
  }
  ctx.stdout.write(renderUsage(path, ROOT, GLOBAL_FLAGS));
}
