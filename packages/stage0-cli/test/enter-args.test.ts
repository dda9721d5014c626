import { describe, expect, it } from 'vitest';
import { parseArgv } from '../src/argv/parse.js';
import { GLOBAL_FLAGS } from '../src/globals.js';
import { ROOT } from '../src/commands/registry.js';

const parse = (...argv: string[]) => parseArgv(argv, ROOT, GLOBAL_FLAGS);

describe('rkt enter: flags stop at the UUID', () => {
  it('passes the flags of the entered command through, and reads its own before the UUID', () => {
    const inv = parse('--debug', 'enter', '--app=web', 'abc', 'sh', '-c', 'ls -l', '--app=x', '--');
    expect(inv.flags.string('app')).toBe('web');
    expect(inv.flags.bool('debug')).toBe(true);
    expect(inv.args).toEqual(['abc', 'sh', '-c', 'ls -l', '--app=x', '--']);
  });

  it('still reads other commands\' flags anywhere', () => {
    expect(parse('stop', 'abc', '--force').flags.bool('force')).toBe(true);
  });
});
