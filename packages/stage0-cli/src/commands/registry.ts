import { defineCommand, type CommandSpec } from '../command.js';

/**
 * The command table. Adding a command: write `commands/<name>.ts` exporting `run` (see
 * `CommandModule`), then add its entry here. Only the chosen command's file is ever imported.
 */
export const COMMANDS: readonly CommandSpec[] = [
  defineCommand({
    name: 'help',
    summary: 'Help about any command',
    description: 'Help provides help for any command in the application.\nSimply type rkt help [path to command] for full details.',
    args: '[command]',
    load: () => import('./help.js'),
  }),
  defineCommand({
    name: 'version',
    summary: 'Print the version and exit',
    description: 'Print the version of rkt, and various build and configuration information.',
    maxArgs: 0,
    load: () => import('./version.js'),
  }),
];

export const ROOT: CommandSpec = {
  name: 'rkt',
  summary: 'rkt, the application container runner',
  description: 'A CLI for running app containers on Linux.\n\nTo get the help on any specific command, run "rkt help command".',
  subcommands: COMMANDS,
};
