import { describe, expect, it } from 'vitest';
import { flag } from '../src/argv/flag-spec.js';
import type { CommandSpec } from '../src/command.js';
import { renderUsage } from '../src/help/usage.js';

const load = async () => ({ run: () => 0 });
const list: CommandSpec = {
  name: 'list',
  summary: 'List images in the local store',
  description: 'Optionally, allows the user to specify the fields and sort order.',
  flags: [flag.bool('no-legend', 'suppress a legend with the list'), flag.string('secret', 'hidden', { hidden: true })],
  load,
};
const rm: CommandSpec = { name: 'rm', summary: 'Remove image(s)', args: 'IMAGE...', minArgs: 1, load };
const image: CommandSpec = { name: 'image', summary: 'Operate on image(s) in the local store', subcommands: [list, rm] };
const root: CommandSpec = { name: 'rkt', summary: 'rkt, the application container runner', subcommands: [image] };
const globals = [flag.bool('debug', 'print out more debug information to stderr'), flag.strings('opt', 'options', { default: ['a', 'b'] })];

describe('renderUsage', () => {
  it('lists nested commands by their path below rkt, groups themselves left out', () => {
    const out = renderUsage([], root, globals);
    expect(out).toContain('COMMANDS:\n\timage list\tList images in the local store\n\timage rm\tRemove image(s)\n');
    expect(out).toContain('GLOBAL OPTIONS:\n      --debug[=false]\tprint out more debug information to stderr\n');
    expect(out).toContain('      --opt=a,b\t\toptions\n');
    expect(out).toContain('  -h, --help[=false]\thelp for rkt\n');
    expect(out.endsWith('\nRun "rkt help <command>" for more details on a specific command.\n')).toBe(true);
  });

  it("shows a group's subcommands and how to get their help", () => {
    const out = renderUsage([image], root, globals);
    expect(out).toContain('NAME:\n\trkt image - Operate on image(s) in the local store\n');
    expect(out).toContain('USAGE:\n\trkt image [command]\n');
    expect(out).toContain('COMMANDS:\n\tlist\tList images in the local store\n\trm\tRemove image(s)\n');
    expect(out).not.toContain('VERSION:');
    expect(out.endsWith('\nRun "rkt help image <command>" for more details on a specific command.\n')).toBe(true);
  });

  it("shows a command's arguments, own options (hidden ones left out) and the global ones", () => {
    expect(renderUsage([image, rm], root, globals)).toContain('USAGE:\n\trkt image rm IMAGE... [flags]\n');
    const out = renderUsage([image, list], root, globals);
    expect(out).toContain('DESCRIPTION:\n\tOptionally, allows the user to specify the fields and sort order.\n');
    expect(out).toContain('OPTIONS:\n      --no-legend[=false]\tsuppress a legend with the list\n  -h, --help[=false]\t\thelp for rkt image list\n');
    expect(out).not.toContain('secret');
    expect(out).toContain('GLOBAL OPTIONS:\n      --debug[=false]\tprint out');
    expect(out).not.toContain('for more details on a specific command');
  });
});
