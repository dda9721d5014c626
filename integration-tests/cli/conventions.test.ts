// rkt's CLI conventions through the built bin/rkt, for every command `rkt --help` lists (a command added later
// is covered without touching this file): help on stdout with exit 0 in each of rkt's spellings, an unknown
// command or subcommand in one line and 254 (cobra's error, which rkt turned into 254), a missing one in rkt's
// "missing command" and 2, JSON on every listing, and --debug adding the stack to an error.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, rktBin, STAGE1S } from '../pods/harness.js';

let tmp: string;

function rkt(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const r = spawnSync(rktBin, [`--dir=${join(tmp, 'data')}`, ...args], { cwd: tmp, encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The commands `rkt --help` lists, subcommands as `image list`. */
function commands(): string[][] {
  const help = rkt(['--help']).stdout;
  const section = help.slice(help.indexOf('COMMANDS:'), help.indexOf('DESCRIPTION:'));
  return section.split('\n').slice(1).map((l) => l.split('\t').filter((w) => w !== '')[0]).filter((c): c is string => c !== undefined).map((c) => c.split(' '));
}

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'rkt-conventions-'));
}, 600_000);

afterAll(() => {
  if (tmp === undefined) return;
  rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  rmSync(tmp, { recursive: true, force: true });
});

describe('--help everywhere', () => {
  it('every command and subcommand prints its help on stdout and exits 0, as --help, -h and rkt help', () => {
    const all = commands();
    expect(all.length).toBeGreaterThan(20);
    // rkt 1.30's commands, each listed (and so checked below): rkt-ts's own extras are checked as well.
    expect(all.map((c) => c.join(' '))).toEqual(expect.arrayContaining([
      'api-service', 'cat-manifest', 'completion', 'config', 'enter', 'export', 'fetch', 'gc', 'image cat-manifest', 'image export', 'image extract', 'image gc',
      'image list', 'image render', 'image rm', 'image verify', 'list', 'metadata-service', 'prepare', 'rm', 'run', 'run-prepared', 'status', 'stop',
      'trust', 'version',
    ]));
    // Parents too (`image`), which the listing names only through their subcommands.
    const parents = [...new Set(all.filter((c) => c.length > 1).map((c) => c[0]!))].map((p) => [p]);
    for (const cmd of [...parents, ...all]) {
      const outputs = [[...cmd, '--help'], [...cmd, '-h'], ['help', ...cmd], [...cmd, '--help=true']].map((args) => {
        const r = rkt(args);
        expect({ status: r.status, stderr: r.stderr }, args.join(' ')).toEqual({ status: 0, stderr: '' });
        return r.stdout;
      });
      expect(outputs[0], cmd.join(' ')).toContain(`rkt ${cmd.join(' ')}`);
      expect(new Set(outputs).size, cmd.join(' ')).toBe(1);
    }
  });

  it('an unknown command or subcommand is one line and 254; a missing one is help and 2, as rkt', () => {
    for (const [args, line] of [
      [['bogus'], 'rkt: unknown command "bogus" for "rkt" (run "rkt help" for usage)'],
      [['image', 'bogus'], 'image: unknown command "bogus" for "rkt image" (run "rkt help image" for usage)'],
      [['image', 'bogus', '--help'], 'image: unknown command "bogus" for "rkt image" (run "rkt help image" for usage)'],
      [['help', 'image', 'bogus'], 'help: unknown help topic "image bogus": no command "bogus" in "rkt image" (run "rkt help" for the list of commands)'],
      [['list', 'extra'], 'list: takes no arguments; unexpected "extra" (run "rkt help list" for usage)'],
    ] as const) {
      expect(rkt(args), args.join(' ')).toEqual({ status: 254, stdout: '', stderr: `${line}\n` });
    }
    for (const args of [[], ['image']]) {
      const r = rkt(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`${args[0] ?? 'rkt'}: missing command (run "rkt help" for usage)\n`);
      expect(r.stdout).toContain('COMMANDS:');
    }
  });
});

describe('listings', () => {
  it('list, image list and status take --format=json and json-pretty, the same data', async () => {
    const fly = STAGE1S.find((s) => s.name === 'fly')!.aci;
    const prepared = rkt(['--insecure-options=image', 'prepare', '--quiet', `--stage1-path=${fly}`, await buildBusyboxAci(tmp)]);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    for (const args of [['list'], ['image', 'list'], ['status', uuid]]) {
      const json = rkt([...args, '--format=json']);
      const pretty = rkt([...args, '--format=json-pretty']);
      expect([json.status, pretty.status, json.stderr, pretty.stderr], args.join(' ')).toEqual([0, 0, '', '']);
      expect(json.stdout.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(pretty.stdout.split('\n').length, args.join(' ')).toBeGreaterThan(3);
      expect(JSON.parse(pretty.stdout), args.join(' ')).toEqual(JSON.parse(json.stdout));
    }
    expect((JSON.parse(rkt(['list', '--format=json']).stdout) as { name: string }[]).map((p) => p.name)).toEqual([uuid]);
  });
});

describe('--debug', () => {
  it('adds the stack and its causes to an error line, which is the whole of stderr without it', () => {
    const plain = rkt(['--insecure-options=image', 'fetch', './missing.aci']);
    expect(plain).toEqual({ status: 254, stdout: '', stderr: 'fetch: ./missing.aci: no such file\n' });
    const debug = rkt(['--debug', '--insecure-options=image', 'fetch', './missing.aci']);
    expect(debug.status).toBe(254);
    expect(debug.stderr).toContain('fetch: ./missing.aci: no such file\nCliError: ./missing.aci: no such file\n    at ');
    expect(debug.stderr).toMatch(/caused by: Error: ENOENT: no such file or directory/);
  });
});
