import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppcError } from '@rkt/appc-spec';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { resolveDataDir } from '../src/context.js';
import { CliError } from '../src/errors.js';
import { reportError } from '../src/report-error.js';

function sink() {
  let text = '';
  return {
    write: (chunk: string) => {
      text += chunk;
      return true;
    },
    get text() {
      return text;
    },
  };
}

async function rkt(...argv: string[]) {
  const stdout = sink();
  const stderr = sink();
  const status = await runCli(argv, { stdout, stderr, cwd: '/srv/work' });
  return { status, stdout: stdout.text, stderr: stderr.text };
}

describe('runCli', () => {
  it('prints the usage and one line, exiting 2, when no command is given (as rkt)', async () => {
    const r = await rkt('--debug=false');
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('USAGE:\n\trkt [command]');
    expect(r.stderr).toBe('rkt: missing command (run "rkt help" for usage)\n');
  });

  it('prints help for --help and -h anywhere on the line', async () => {
    const a = await rkt('--help');
    const b = await rkt('version', '-h');
    const c = await rkt('-h', 'version');
    expect([a.status, b.status, c.status]).toEqual([0, 0, 0]);
    expect(a.stdout).toContain('COMMANDS:');
    expect(b.stdout).toBe(c.stdout);
    expect(b.stdout).toContain('rkt version - Print the version and exit');
  });

  it('turns a parse error into one line and 254', async () => {
    const r = await rkt('version', '--nope');
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('version: unknown flag: --nope (run "rkt help version" for usage)\n');
  });

  it('logs the resolved global options under --debug, relative paths made absolute', async () => {
    const r = await rkt('version', '--debug', '--dir=data', '--user-config', '../u', '--insecure-options=http');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      'version: dir=/srv/work/data local-config=/etc/rkt system-config=/usr/lib/rkt user-config=/srv/u insecure-options=http trust-keys-from-https=false\n',
    );
  });

  it('refuses arguments a command does not take, before loading it', async () => {
    const r = await rkt('version', 'now');
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('version: takes no arguments; unexpected "now" (run "rkt help version" for usage)\n');
  });

  it('refuses an unknown help topic', async () => {
    const r = await rkt('help', 'version', 'extra');
    expect(r.status).toBe(254);
    expect(r.stderr).toBe(
      'help: unknown help topic "version extra": no command "extra" in "rkt version" (run "rkt help" for the list of commands)\n',
    );
  });
});

describe('reportError', () => {
  const report = (err: unknown, debug = false) => {
    const stderr = sink();
    reportError(stderr, 'image list', err, debug);
    return stderr.text;
  };

  it("prints any coded error's message after the command, on one line", () => {
    const appc = new AppcError('APPC_ACI_CORRUPT', 'img.aci: not a tar archive\nat offset 0', { source: 'img.aci' });
    expect(report(appc)).toBe('image list: img.aci: not a tar archive at offset 0\n');
    const sys = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' });
    expect(report(sys)).toBe("image list: ENOENT: no such file or directory, open '/x'\n");
  });

  it('names an unexpected error as such and points at --debug', () => {
    expect(report(new TypeError('x is undefined'))).toBe(
      'image list: unexpected error: x is undefined (run with --debug for details)\n',
    );
    expect(report('a string')).toBe('image list: unexpected error: a string (run with --debug for details)\n');
  });

  it('uses the command a CliError names, and its hint', () => {
    const err = new CliError('CLI_UNKNOWN_FLAG', 'unknown flag: --x', { command: 'rkt', hint: 'run "rkt help" for usage' });
    expect(report(err)).toBe('rkt: unknown flag: --x (run "rkt help" for usage)\n');
  });

  it('adds the stack and the causes under --debug', () => {
    const cause = new Error('EACCES: permission denied');
    const text = report(new CliError('CLI_DATA_DIR', 'cannot evaluate data dir "/x"', { cause }), true);
    const lines = text.split('\n');
    expect(lines[0]).toBe('image list: cannot evaluate data dir "/x"');
    expect(lines[1]).toBe('CliError: cannot evaluate data dir "/x"');
    expect(text).toMatch(/\n {4}at .*cli\.test\.ts:\d+/);
    expect(text).toContain('\ncaused by: Error: EACCES: permission denied\n');
  });
});

describe('resolveDataDir', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('resolves symlinks, keeps a missing directory and refuses a path through a file', () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-cli-test-'));
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    writeFileSync(join(dir, 'file'), '');
    expect(resolveDataDir(join(dir, 'link'))).toBe(join(dir, 'real'));
    expect(resolveDataDir(join(dir, 'missing'))).toBe(join(dir, 'missing'));
    const through = join(dir, 'file', 'rkt');
    expect(() => resolveDataDir(through)).toThrow(CliError);
    expect(() => resolveDataDir(through)).toThrow(`cannot evaluate data dir "${through}" real path: ENOTDIR`);
  });
});
