import { describe, expect, it } from 'vitest';
import { flag, type FlagSpec } from '../src/argv/flag-spec.js';
import { parseArgv } from '../src/argv/parse.js';
import type { CommandSpec, CommandModule } from '../src/command.js';
import { CliError } from '../src/errors.js';

const load = async (): Promise<CommandModule> => ({ run: () => 0 });

const globals: readonly FlagSpec[] = [
  flag.bool('debug', 'debug'),
  flag.string('dir', 'data dir', { default: '/var/lib/rkt' }),
  flag.strings('insecure-options', 'skip checks', { default: ['none'], separator: ',' }),
];

const list: CommandSpec = {
  name: 'list',
  summary: 'list images',
  flags: [
    flag.bool('no-legend', 'no legend'),
    flag.string('format', 'format', { choices: ['', 'json', 'json-pretty'] }),
    flag.bool('all', 'all', { short: 'a' }),
    flag.bool('quiet', 'quiet', { short: 'q' }),
  ],
  load,
};
const rm: CommandSpec = { name: 'rm', summary: 'remove', args: 'IMAGE...', minArgs: 1, load };
const root: CommandSpec = {
  name: 'rkt',
  summary: 'rkt',
  subcommands: [
    { name: 'image', summary: 'images', subcommands: [list, rm] },
    {
      name: 'run',
      summary: 'run',
      flags: [
        flag.strings('set-env', 'env'),
        flag.string('name', 'app name', { short: 'n' }),
        flag.int('count', 'count', { default: 1, min: 1, max: 5 }),
      ],
      load,
    },
    { name: 'version', summary: 'version', maxArgs: 0, load },
    { name: 'cat', summary: 'cat', minArgs: 1, maxArgs: 2, load },
    { name: 'verify', summary: 'verify', load },
  ],
};

const parse = (...argv: string[]) => parseArgv(argv, root, globals);
const names = (argv: string[]) => parse(...argv).path.map((c) => c.name);

function parseError(argv: string[]): CliError {
  try {
    parse(...argv);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

describe('parseArgv: finding the command', () => {
  it('finds nested subcommands with flags before, between and after the names', () => {
    expect(names(['image', 'list'])).toEqual(['image', 'list']);
    expect(names(['--debug', 'image', '--no-legend', 'list', '--dir=/x'])).toEqual(['image', 'list']);
    const inv = parse('--dir', '/tmp/d', 'image', 'list', '--format', 'json');
    expect(inv.flags.string('dir')).toBe('/tmp/d');
    expect(inv.flags.string('format')).toBe('json');
  });

  it("knows a later command's flag takes a value before that command is named", () => {
    const inv = parse('--format', 'json', 'image', 'list');
    expect(inv.path.map((c) => c.name)).toEqual(['image', 'list']);
    expect(inv.flags.string('format')).toBe('json');
  });

  it('gives the bare command an empty path', () => {
    expect(parse().path).toEqual([]);
    expect(parse('--debug').flags.bool('debug')).toBe(true);
  });

  it('accepts an unambiguous prefix, as rkt enabled in cobra', () => {
    expect(names(['vers'])).toEqual(['version']);
    expect(names(['im', 'li'])).toEqual(['image', 'list']);
    const ambiguous = parseError(['ver']);
    expect(ambiguous.code).toBe('CLI_UNKNOWN_COMMAND');
    expect(ambiguous.hint).toBe('did you mean "version" or "verify"? run "rkt help" for usage');
  });

  it('suggests commands within two edits of a mistyped one, as cobra does', () => {
    expect(parseError(['verson']).hint).toBe('did you mean "version"? run "rkt help" for usage');
    expect(parseError(['image', 'lst']).hint).toBe('did you mean "list"? run "rkt help image" for usage');
    expect(parseError(['Image']).hint).toBe('did you mean "image"? run "rkt help" for usage');
  });

  it('refuses an unknown command with one line naming it', () => {
    const err = parseError(['bogus']);
    expect(err.code).toBe('CLI_UNKNOWN_COMMAND');
    expect(err.message).toBe('unknown command "bogus" for "rkt"');
    expect(err.command).toBe('rkt');
    expect(err.hint).toBe('run "rkt help" for usage');
    const nested = parseError(['image', 'lst']);
    expect(nested.message).toBe('unknown command "lst" for "rkt image"');
    expect(nested.command).toBe('image');
  });

  it('passes words after a runnable command as arguments', () => {
    const inv = parse('image', 'rm', 'sha512-aaa', 'list', 'sha512-bbb');
    expect(inv.path.map((c) => c.name)).toEqual(['image', 'rm']);
    expect(inv.args).toEqual(['sha512-aaa', 'list', 'sha512-bbb']);
  });
});

describe('parseArgv: flag forms', () => {
  it('reads --flag=value and --flag value', () => {
    expect(parse('--dir=/a', 'version').flags.string('dir')).toBe('/a');
    expect(parse('version', '--dir', '/b').flags.string('dir')).toBe('/b');
    expect(parse('version', '--dir=').flags.string('dir')).toBe('');
    expect(parse('version', '--dir=a=b').flags.string('dir')).toBe('a=b');
  });

  it('fills defaults and tells given flags from defaults', () => {
    const inv = parse('version');
    expect(inv.flags.string('dir')).toBe('/var/lib/rkt');
    expect(inv.flags.changed('dir')).toBe(false);
    expect(inv.flags.bool('debug')).toBe(false);
    expect(inv.flags.strings('insecure-options')).toEqual(['none']);
    expect(parse('--dir=/var/lib/rkt', 'version').flags.changed('dir')).toBe(true);
  });

  it('reads bool flags as --flag, --flag=true|false and never takes the next word', () => {
    expect(parse('--debug', 'version').flags.bool('debug')).toBe(true);
    expect(parse('--debug=false', 'version').flags.bool('debug')).toBe(false);
    expect(parse('--debug=1', 'version').flags.bool('debug')).toBe(true);
    const inv = parse('image', 'rm', '--debug', 'false');
    expect(inv.flags.bool('debug')).toBe(true);
    expect(inv.args).toEqual(['false']);
  });

  it('lets the last of a repeated single-value flag win and collects repeatable ones', () => {
    expect(parse('--dir=/a', 'version', '--dir=/b').flags.string('dir')).toBe('/b');
    const inv = parse('run', '--set-env=A=1', '--set-env', 'B=2', 'img');
    expect(inv.flags.strings('set-env')).toEqual(['A=1', 'B=2']);
    expect(inv.args).toEqual(['img']);
  });

  it('splits separated lists and replaces the default on first use', () => {
    const inv = parse('--insecure-options=image,tls', 'version', '--insecure-options', 'ondisk');
    expect(inv.flags.strings('insecure-options')).toEqual(['image', 'tls', 'ondisk']);
  });

  it('reads shorthands: -n value, -nvalue, -n=value and bundled bools', () => {
    expect(parse('run', '-n', 'web').flags.string('name')).toBe('web');
    expect(parse('run', '-nweb').flags.string('name')).toBe('web');
    expect(parse('run', '-n=web').flags.string('name')).toBe('web');
    const inv = parse('image', 'list', '-aq');
    expect(inv.flags.bool('all')).toBe(true);
    expect(inv.flags.bool('quiet')).toBe(true);
    expect(parse('version', '-h').flags.bool('help')).toBe(true);
  });

  it('ends flags at --, keeping what follows as arguments and where the dash was', () => {
    const inv = parse('run', 'img', '--', '--debug', '-x', '---', 'img2');
    expect(inv.flags.bool('debug')).toBe(false);
    expect(inv.args).toEqual(['img', '--debug', '-x', '---', 'img2']);
    expect(inv.argsLenAtDash).toBe(1);
    expect(parse('run', 'img').argsLenAtDash).toBe(-1);
  });

  it('treats a lone - as an argument', () => {
    expect(parse('image', 'rm', '-').args).toEqual(['-']);
  });

  it('reads and bounds integers', () => {
    expect(parse('run', '--count=3').flags.int('count')).toBe(3);
    expect(parse('run').flags.int('count')).toBe(1);
    expect(parseError(['run', '--count=x']).message).toBe('invalid value "x" for --count: expected an integer');
    expect(parseError(['run', '--count=9']).message).toBe('invalid value "9" for --count: must be at most 5');
    expect(parseError(['run', '--count=0']).message).toBe('invalid value "0" for --count: must be at least 1');
  });
});

describe('parseArgv: errors', () => {
  it('refuses an unknown flag, naming it and the command', () => {
    const err = parseError(['version', '--bogus']);
    expect(err.code).toBe('CLI_UNKNOWN_FLAG');
    expect(err.message).toBe('unknown flag: --bogus');
    expect(err.command).toBe('version');
    expect(err.hint).toBe('run "rkt help version" for usage');
    expect(parseError(['--bogus=1', 'version']).message).toBe('unknown flag: --bogus');
    // A flag of another command is unknown here.
    expect(parseError(['version', '--no-legend']).code).toBe('CLI_UNKNOWN_FLAG');
    expect(parseError(['image', 'list', '-z']).message).toBe("unknown shorthand flag: 'z' in -z");
  });

  it('checks the number of arguments, unless help was asked for', () => {
    const none = parseError(['version', 'extra', 'more']);
    expect(none.code).toBe('CLI_BAD_ARGS');
    expect(none.message).toBe('takes no arguments; unexpected "extra" "more"');
    expect(none.command).toBe('version');
    expect(parseError(['cat', 'a', 'b', 'c']).message).toBe('takes at most 2 arguments; unexpected "c"');
    expect(parseError(['image', 'rm']).message).toBe('needs at least 1 argument (IMAGE...)');
    expect(parseError(['cat']).message).toBe('needs at least 1 argument');
    expect(parse('version', 'extra', '--help').flags.bool('help')).toBe(true);
    // Words after `--` are arguments too.
    expect(parseError(['version', '--', '--debug']).message).toBe('takes no arguments; unexpected "--debug"');
  });

  it('refuses a value-taking flag at the end of the line', () => {
    const err = parseError(['version', '--dir']);
    expect(err.code).toBe('CLI_FLAG_NEEDS_VALUE');
    expect(err.message).toBe('flag needs an argument: --dir');
    expect(parseError(['run', '-n']).message).toBe('flag needs an argument: -n');
  });

  it('refuses bad bool values and values outside the choices', () => {
    expect(parseError(['--debug=maybe', 'version']).message).toBe('invalid value "maybe" for --debug: expected true or false');
    const err = parseError(['image', 'list', '--format=yaml']);
    expect(err.code).toBe('CLI_BAD_FLAG_VALUE');
    expect(err.message).toBe('invalid value "yaml" for --format: allowed values: "", json, json-pretty');
  });

  it("reports a flag's own check with the value it refused", () => {
    const strict: FlagSpec = flag.string('port', 'port', {
      parse: (raw) => {
        if (!/^\d+$/.test(raw)) throw new Error('not a port number');
        return raw;
      },
    });
    const err = (() => {
      try {
        parseArgv(['--port=http'], { ...root, subcommands: [] }, [strict]);
      } catch (e) {
        return e as CliError;
      }
      throw new Error('expected a failure');
    })();
    expect(err.message).toBe('invalid value "http" for --port: not a port number');
  });

  it('throws a TypeError when a command reads a flag it did not declare or as the wrong kind', () => {
    const inv = parse('version');
    expect(() => inv.flags.bool('no-legend')).toThrow(TypeError);
    expect(() => inv.flags.string('debug')).toThrow('flag --debug is a bool flag, read as string');
  });
});

describe('a flag whose value is optional (pflag NoOptDefVal)', () => {
  const status: CommandSpec = {
    name: 'status',
    summary: 'status',
    args: 'UUID',
    maxArgs: 1,
    flags: [flag.string('wait', 'wait', { default: 'false', noOptDefault: 'true' })],
    load,
  };
  const tree: CommandSpec = { name: 'rkt', summary: 'rkt', subcommands: [status] };

  it('bare, takes its no-option value and never the next word; with "=", the value given', () => {
    for (const [argv, wait, args] of [
      [['status', '--wait', 'abc'], 'true', ['abc']],
      [['--wait', 'status', 'abc'], 'true', ['abc']],
      [['status', '--wait=10s', 'abc'], '10s', ['abc']],
      [['status', 'abc'], 'false', ['abc']],
    ] as const) {
      const inv = parseArgv(argv, tree, globals);
      expect(inv.flags.string('wait'), argv.join(' ')).toBe(wait);
      expect(inv.args, argv.join(' ')).toEqual(args);
    }
  });
});
