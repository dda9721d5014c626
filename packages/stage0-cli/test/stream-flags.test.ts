// rkt's per-app --stdin/--stdout/--stderr (RKT_EXPERIMENT_ATTACH): known only with the experiment, each for the
// image before it, checked against rkt's modes, and passed on as the app's `streams`.
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CommandContext } from '../src/command.js';
import { refusal } from './refusal.js';

type Modules = {
  parseArgv: typeof import('../src/argv/parse.js').parseArgv;
  ROOT: typeof import('../src/commands/registry.js').ROOT;
  parseApps: typeof import('../src/commands/pods/app-args.js').parseApps;
  parseOneApp: typeof import('../src/commands/pods/app-args.js').parseOneApp;
  GLOBAL_FLAGS: typeof import('../src/globals.js').GLOBAL_FLAGS;
};

/**
 * The CLI's modules as loaded with RKT_EXPERIMENT_ATTACH set to `value` (or unset), RKT_EXPERIMENT_APP on (for
 * `rkt app add`): the command table reads them once.
 */
async function loadWith(value: string | undefined): Promise<Modules> {
  vi.resetModules();
  const saved = process.env.RKT_EXPERIMENT_ATTACH;
  const savedApp = process.env.RKT_EXPERIMENT_APP;
  if (value === undefined) delete process.env.RKT_EXPERIMENT_ATTACH;
  else process.env.RKT_EXPERIMENT_ATTACH = value;
  process.env.RKT_EXPERIMENT_APP = 'true';
  try {
    const [{ parseArgv }, { ROOT }, { parseApps, parseOneApp }, { GLOBAL_FLAGS }] = await Promise.all([
      import('../src/argv/parse.js'),
      import('../src/commands/registry.js'),
      import('../src/commands/pods/app-args.js'),
      import('../src/globals.js'),
    ]);
    return { parseArgv, ROOT, parseApps, parseOneApp, GLOBAL_FLAGS };
  } finally {
    if (saved === undefined) delete process.env.RKT_EXPERIMENT_ATTACH;
    else process.env.RKT_EXPERIMENT_ATTACH = saved;
    if (savedApp === undefined) delete process.env.RKT_EXPERIMENT_APP;
    else process.env.RKT_EXPERIMENT_APP = savedApp;
  }
}

function appsOf(m: Modules, ...argv: string[]) {
  const inv = m.parseArgv(argv, m.ROOT, m.GLOBAL_FLAGS);
  const ctx = { flags: inv.flags, argsLenAtDash: inv.argsLenAtDash, appArgs: inv.appArgs, cwd: tmpdir() } as unknown as CommandContext;
  return m.parseApps(ctx, inv.args);
}


describe('--stdin, --stdout, --stderr (RKT_EXPERIMENT_ATTACH)', () => {
  let on: Modules;
  let off: Modules;
  beforeAll(async () => {
    off = await loadWith(undefined);
    on = await loadWith('true');
  });
  afterAll(() => vi.resetModules());

  it('are unknown flags, and attach an unknown command, without the experiment', () => {
    expect(refusal(() => appsOf(off, 'run', 'a.aci', '--stdin=stream'))).toMatch(/unknown flag: --stdin/);
    expect(refusal(() => off.parseArgv(['attach', 'UUID'], off.ROOT, off.GLOBAL_FLAGS))).toMatch(/unknown command "attach"/);
  });

  it('apply to the image before them, rkt defaults left out of the manifest', () => {
    const apps = appsOf(on, 'run', 'a.aci', '--stdin=stream', '--stdout=stream', 'b.aci', '--stderr=null', 'c.aci');
    expect(apps.map((a) => a.input.streams)).toEqual([{ stdin: 'stream', stdout: 'stream' }, { stderr: 'null' }, undefined]);
    expect(appsOf(on, 'prepare', 'a.aci', '--stdout=log').map((a) => a.input.streams)).toEqual([{ stdout: 'log' }]);
    // tty in one app, stream in another: each app attaches one or the other.
    const ttyApps = appsOf(on, 'run', 'a.aci', '--stdin=tty', '--stdout=tty', 'b.aci', '--stdout=stream');
    expect(ttyApps.map((a) => a.input.streams)).toEqual([{ stdin: 'tty', stdout: 'tty' }, { stdout: 'stream' }]);
  });

  it("refuses rkt's invalid modes, tty with stream in one app, and a flag before any image, in one line", () => {
    expect(refusal(() => appsOf(on, 'run', 'a.aci', '--stdin=log'))).toBe('--stdin=log: invalid stdin mode "log" (null, stream, tty)');
    expect(refusal(() => appsOf(on, 'run', 'a.aci', '--stderr=file'))).toBe('--stderr=file: invalid stderr mode "file" (log, null, stream, tty)');
    expect(refusal(() => appsOf(on, 'run', 'a.aci', '--stdin=tty', '--stdout=stream'))).toBe('--stdin=tty cannot be combined with --stdout=stream for one app (it attaches a terminal or streams)');
    expect(refusal(() => appsOf(on, 'run', '--stdin=stream', 'a.aci'))).toBe('--stdin must follow an image');
  });

  it("are rkt app add's too (rkt's addAppFlags gave them to it), checked the same way", () => {
    // `rkt app add UUID IMAGE [APP FLAGS]`: the one app's flags after the image.
    const addOf = (m: Modules, ...flags: string[]) => {
      const inv = m.parseArgv(['app', 'add', 'UUID', 'a.aci', ...flags], m.ROOT, m.GLOBAL_FLAGS);
      const ctx = { flags: inv.flags, argsLenAtDash: inv.argsLenAtDash, appArgs: inv.appArgs, cwd: tmpdir() } as unknown as CommandContext;
      return m.parseOneApp(ctx, inv.args.slice(2));
    };
    expect(addOf(on, '--stdin=stream', '--stdout=stream').streams).toEqual({ stdin: 'stream', stdout: 'stream' });
    expect(addOf(on, '--name=x').streams).toBeUndefined();
    expect(refusal(() => addOf(on, '--stdout=bogus'))).toBe('--stdout=bogus: invalid stdout mode "bogus" (log, null, stream, tty)');
    expect(refusal(() => addOf(off, '--stdin=stream'))).toMatch(/unknown flag: --stdin/);
  });

  it('are hidden from the help, as in rkt', () => {
    const run = on.ROOT.subcommands!.find((c) => c.name === 'run')!;
    expect(run.flags!.filter((f) => ['stdin', 'stdout', 'stderr'].includes(f.name)).map((f) => f.hidden)).toEqual([true, true, true]);
  });
});
