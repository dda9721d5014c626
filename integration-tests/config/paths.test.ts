// rkt's paths.d through the built bin/rkt, with temporary system and local configuration directories: its
// `data` is the data directory of a command given no --dir (the pod lands there, `rkt list` finds it there),
// --dir wins over it, its `stage1-images` is where --stage1-from-dir looks, and a malformed file is one line and
// 254 for a command that needs it, and nothing at all for one that does not.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';
import { putConfig } from './config-files.js';

let env: RktEnv;
let system: string;
let local: string;

beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => {
  env = new RktEnv();
  system = join(env.tmp, 'system');
  local = join(env.tmp, 'local');
});
afterEach(async () => {
  await env.cleanup();
});

/** bin/rkt with the temporary configuration directories and no --dir unless the test gives one (the harness always does). */
function rkt(args: readonly string[]): RktResult {
  const r = spawnSync(rktBin, [`--system-config=${system}`, `--local-config=${local}`, '--insecure-options=image', ...args], {
    cwd: env.tmp,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fly = () => STAGE1S.find((s) => s.name === 'fly')!.aci;
const prepared = (dataDir: string) => (existsSync(join(dataDir, 'pods', 'prepared')) ? readdirSync(join(dataDir, 'pods', 'prepared')) : []);

describe('paths.d', () => {
  it("its data directory is where rkt prepare puts a pod and where rkt list and rm look, without --dir; --dir wins over it", async () => {
    const aci = await buildBusyboxAci(env.tmp);
    const elsewhere = join(env.tmp, 'given-dir');
    // The system directory names one data directory, the local one another: the local one wins.
    putConfig(system, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', data: join(env.tmp, 'system-data') });
    putConfig(local, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', data: env.dataDir });

    const made = rkt(['prepare', '--quiet', `--stage1-path=${fly()}`, aci]);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    const uuid = made.stdout.trim();
    expect(prepared(env.dataDir)).toEqual([uuid]);
    expect(existsSync(join(env.tmp, 'system-data'))).toBe(false);
    expect(rkt(['list', '--no-legend', '--full']).stdout).toContain(uuid);

    // --dir: paths.d's directory is neither used nor looked at.
    const given = rkt([`--dir=${elsewhere}`, 'prepare', '--quiet', `--stage1-path=${fly()}`, aci]);
    expect(given.status, given.stderr).toBe(0);
    const other = given.stdout.trim();
    expect(prepared(elsewhere)).toEqual([other]);
    expect(prepared(env.dataDir)).toEqual([uuid]);
    const listed = rkt([`--dir=${elsewhere}`, 'list', '--no-legend', '--full']).stdout;
    expect(listed).toContain(other);
    expect(listed).not.toContain(uuid);
    expect(rkt(['list', '--no-legend', '--full']).stdout).not.toContain(other);
    // rkt config prints the directory a command would use.
    const data = (args: string[]) => (JSON.parse(rkt([...args, 'config']).stdout) as { stage0: { rktKind: string; data?: string }[] }).stage0.find((e) => e.rktKind === 'paths')?.data;
    expect(data([])).toBe(env.dataDir);
    expect(data([`--dir=${elsewhere}`])).toBe(elsewhere);

    expect(rkt(['rm', uuid])).toMatchObject({ status: 0, stdout: `"${uuid}"\n` });
    expect(rkt([`--dir=${elsewhere}`, 'rm', other])).toMatchObject({ status: 0, stdout: `"${other}"\n` });
    expect([prepared(env.dataDir), prepared(elsewhere)]).toEqual([[], []]);
  });

  it("its stage1-images is where --stage1-from-dir looks, before stage1.d's images-directory", async () => {
    const aci = await buildBusyboxAci(env.tmp);
    const images = join(env.tmp, 'stage1-images');
    mkdirSync(images);
    symlinkSync(fly(), join(images, 'stage1-fly.aci'));
    putConfig(local, 'stage1.d', 'stage1.json', { rktKind: 'stage1', rktVersion: 'v1', 'images-directory': join(env.tmp, 'no-such-images') });
    putConfig(system, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', 'stage1-images': images });

    const made = rkt([`--dir=${env.dataDir}`, 'prepare', '--quiet', '--stage1-from-dir=stage1-fly.aci', aci]);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    const uuid = made.stdout.trim();
    const manifest = JSON.parse(rkt([`--dir=${env.dataDir}`, 'cat-manifest', uuid]).stdout) as { apps: unknown[] };
    expect(manifest.apps).toHaveLength(1);
    expect(prepared(env.dataDir)).toEqual([uuid]);
    const entry = (JSON.parse(rkt(['config']).stdout) as { stage0: Record<string, unknown>[] }).stage0.find((e) => e.rktKind === 'paths');
    expect(entry).toEqual({ rktVersion: 'v1', rktKind: 'paths', data: '/var/lib/rkt', 'stage1-images': images });
    expect(rkt([`--dir=${env.dataDir}`, 'rm', uuid]).status).toBe(0);
  });

  it('a malformed file: one line and 254 for a command that needs it; a command given --dir, or rkt version, never reads it', () => {
    const file = putConfig(local, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', data: 'relative/data' });
    const line = `paths configuration ${file}: data: must be an absolute path, got "relative/data"\n`;
    for (const [cmd, ...rest] of [['list'], ['gc'], ['config'], ['prepare', '/nonexistent.aci']] as const) {
      const r = rkt([cmd, ...rest]);
      expect([r.status, r.stdout, r.stderr], cmd).toEqual([254, '', `${cmd}: ${line}`]);
    }
    putConfig(local, 'paths.d', 'paths.json', '{"rktKind": "paths", "rktVersion": "v1", "data": ');
    const broken = rkt(['list']);
    expect(broken.status).toBe(254);
    expect(broken.stderr).toMatch(new RegExp(`^list: paths configuration ${file}: .*JSON[^\\n]*\\n$`));

    // Not read: --dir names the data directory, and version has no use for one.
    const listed = rkt([`--dir=${env.dataDir}`, 'list']);
    expect([listed.status, listed.stderr]).toEqual([0, '']);
    const version = rkt(['version']);
    expect([version.status, version.stderr]).toEqual([0, '']);
    // Nothing was made anywhere by the failures.
    expect(existsSync(join(env.tmp, 'relative'))).toBe(false);
  });
});
