// `rkt config` through the built bin/rkt: the configuration of temporary system, local and user directories
// merged as the commands merge it, printed as rkt printed it; the stage1 it names is the one `rkt prepare`
// takes; a malformed file is the line the other commands give for it, and 254.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, RktEnv, STAGE1S } from '../pods/harness.js';
import { putConfig } from './config-files.js';

let env: RktEnv;
let system: string;
let local: string;
let user: string;

beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => {
  env = new RktEnv();
  system = join(env.tmp, 'system');
  local = join(env.tmp, 'local');
  user = join(env.tmp, 'user');
});
afterEach(async () => {
  await env.cleanup();
});

const dirFlags = () => [`--system-config=${system}`, `--local-config=${local}`, `--user-config=${user}`];
const config = (...extra: string[]) => env.run([...dirFlags(), 'config', ...extra]);

/** `rkt prepare` of `aci` with the configuration directories: its pod got the fly stage1 (then it is removed). */
function expectPreparedWithFly(aci: string): void {
  const prepared = env.run([...dirFlags(), 'prepare', '--quiet', aci]);
  expect(prepared.stderr).toBe('');
  expect(prepared.status).toBe(0);
  const uuid = prepared.stdout.trim();
  const manifest = JSON.parse(readFileSync(join(env.dataDir, 'pods', 'prepared', uuid, 'stage1', 'manifest'), 'utf8')) as { name: string };
  expect(manifest.name).toBe('coreos.com/rkt/stage1-fly');
  expect(env.run(['rm', uuid]).status).toBe(0);
}

/** What rkt printed: json.MarshalIndent(config, "", "\t") and a newline. */
const pretty = (doc: unknown) => `${JSON.stringify(doc, null, '\t')}\n`;

describe('rkt config', () => {
  it('prints the merged configuration of the system, local and user directories, as rkt did', () => {
    // auth.d: rkt's documented example (the user's foo.com overrides the system's), and an oauth token locally.
    putConfig(system, 'auth.d', 'basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com', 'bar.com', 'baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } });
    putConfig(local, 'auth.d', 'registry.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['registry.example:5000'], type: 'oauth', credentials: { token: 'someToken' } });
    putConfig(user, 'auth.d', 'basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'userPassword' } });
    // rkt's docker credentials sit in auth.d too, printed one entry per registry after the domains' (Docker Hub's
    // three names are one registry, its API host).
    putConfig(local, 'auth.d', 'docker.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['index.docker.io'], credentials: { user: 'd', password: 'p' } });
    // stage1.d in both: the local location wins, the system's name and version stand (field by field).
    putConfig(system, 'stage1.d', 'default.json', {
      rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/vendor-stage1', version: '1.2.3', location: '/usr/lib/rkt/vendor-stage1.aci', 'images-directory': '/srv/stage1-images',
    });
    putConfig(local, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1', location: '/etc/rkt/local-stage1.aci' });
    // paths.d: its stage1-images wins over stage1.d's images-directory (rkt's only place for it); its data
    // directory gives way to --dir (the harness gives one), as it did for rkt.
    putConfig(local, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', data: '/elsewhere', 'stage1-images': '/elsewhere/stage1' });
    // events.d: the server and prefix from the system, the timeout and credentials from the local directory.
    putConfig(system, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { servers: 'nats://127.0.0.1:4222', subjectPrefix: 'site', timeout: '5s' } });
    putConfig(local, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { timeout: '90s', user: 'bus', password: 'busPassword' } });

    const expected = {
      stage0: [
        { rktVersion: 'v1', rktKind: 'auth', domains: ['bar.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
        { rktVersion: 'v1', rktKind: 'auth', domains: ['baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
        { rktVersion: 'v1', rktKind: 'auth', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'userPassword' } },
        { rktVersion: 'v1', rktKind: 'auth', domains: ['registry.example:5000'], type: 'oauth', credentials: { token: 'someToken' } },
        { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['registry-1.docker.io'], credentials: { user: 'd', password: 'p' } },
        { rktVersion: 'v1', rktKind: 'paths', data: env.dataDir, 'stage1-images': '/elsewhere/stage1' },
        { rktVersion: 'v1', rktKind: 'stage1', name: 'example.com/vendor-stage1', version: '1.2.3', location: '/etc/rkt/local-stage1.aci' },
        { rktVersion: 'v1', rktKind: 'events', nats: { servers: ['nats://127.0.0.1:4222'], subjectPrefix: 'site', user: 'bus', password: 'busPassword', timeout: '1m30s' } },
      ],
    };
    const r = config();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(pretty(expected));
    // rkt's --pretty-print=false: the same on one line.
    const flat = config('--pretty-print=false');
    expect([flat.status, flat.stdout]).toEqual([0, `${JSON.stringify(expected)}\n`]);
    // Reading the configuration changes nothing: no data directory is made.
    expect(existsSync(env.dataDir)).toBe(false);
  });

  it('without configuration files: the data directory, the default stage1 images directory and the stage1 the build made', () => {
    const r = env.run([`--system-config=${system}`, `--local-config=${local}`, 'config']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      pretty({
        stage0: [
          { rktVersion: 'v1', rktKind: 'paths', data: env.dataDir, 'stage1-images': join(system, 'stage1-images') },
          { rktVersion: 'v1', rktKind: 'stage1', location: join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci') },
        ],
      }),
    );
    // A relative --dir is taken from the working directory (the harness runs rkt in env.tmp), as every command takes it.
    const relative = JSON.parse(
      env.run([`--system-config=${system}`, `--local-config=${local}`, 'config', '--dir=relative/data']).stdout,
    ) as { stage0: { rktKind: string; data?: string }[] };
    expect(relative.stage0.find((e) => e.rktKind === 'paths')?.data).toBe(join(env.tmp, 'relative/data'));
  });

  it('names the stage1 that rkt prepare takes without a --stage1 flag', async () => {
    const aci = await buildBusyboxAci(env.tmp);
    const fly = STAGE1S.find((s) => s.name === 'fly')!.aci;
    // A configured name that is not in the store: prepare falls back to the location, the local one.
    putConfig(system, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/not-stored-stage1', version: '1', location: '/nonexistent/stage1.aci' });
    putConfig(local, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1', location: fly });
    const printed = JSON.parse(config('--pretty-print=false').stdout) as { stage0: Record<string, unknown>[] };
    expect(printed.stage0.find((e) => e.rktKind === 'stage1')).toEqual({ rktVersion: 'v1', rktKind: 'stage1', name: 'example.com/not-stored-stage1', version: '1', location: fly });
    expectPreparedWithFly(aci);
  });

  it("--user-config's stage1.d, events.d and paths.d win over the local ones, in what it prints and in what the commands use, as rkt read every kind from there", async () => {
    const aci = await buildBusyboxAci(env.tmp);
    const fly = STAGE1S.find((s) => s.name === 'fly')!.aci;
    putConfig(local, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1', location: '/nonexistent/local-stage1.aci' });
    putConfig(user, 'stage1.d', 'mine.json', { rktKind: 'stage1', rktVersion: 'v1', location: fly });
    putConfig(system, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { servers: ['nats://127.0.0.1:4222'], subjectPrefix: 'site' } });
    putConfig(user, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { subjectPrefix: 'mine' } });
    putConfig(local, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', 'stage1-images': '/srv/local-stage1' });
    putConfig(user, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', 'stage1-images': '/home/me/stage1' });
    const entries = (r: { stdout: string }) => (JSON.parse(r.stdout) as { stage0: Record<string, unknown>[] }).stage0;
    const r = config('--pretty-print=false');
    expect(r.stderr).toBe('');
    expect(entries(r)).toEqual([
      { rktVersion: 'v1', rktKind: 'paths', data: env.dataDir, 'stage1-images': '/home/me/stage1' },
      { rktVersion: 'v1', rktKind: 'stage1', location: fly },
      { rktVersion: 'v1', rktKind: 'events', nats: { servers: ['nats://127.0.0.1:4222'], subjectPrefix: 'mine', timeout: '2s' } },
    ]);
    // Without --user-config, the local directory's.
    const without = env.run([`--system-config=${system}`, `--local-config=${local}`, 'config', '--pretty-print=false']);
    expect(entries(without).filter((e) => e.rktKind !== 'events')).toEqual([
      { rktVersion: 'v1', rktKind: 'paths', data: env.dataDir, 'stage1-images': '/srv/local-stage1' },
      { rktVersion: 'v1', rktKind: 'stage1', location: '/nonexistent/local-stage1.aci' },
    ]);

    // rkt prepare takes the user's stage1 (the events.d bus is left out: no server listens here).
    for (const dir of [system, user]) rmSync(join(dir, 'events.d'), { recursive: true });
    expectPreparedWithFly(aci);
    // And rkt gc reads the user's events.d: a malformed one fails it in the line rkt config gives.
    const events = putConfig(user, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { servers: ['http://127.0.0.1:4222'] } });
    const gc = env.run([...dirFlags(), 'gc']);
    expect([gc.status, gc.stderr]).toEqual([254, `gc: events configuration ${events}: nats.servers[0]: must be nats://HOST:PORT or tls://HOST:PORT, got "http://127.0.0.1:4222"\n`]);
  });

  it('a malformed file: the line the commands that read it give, and 254', () => {
    const refused = (args: string[]) => {
      const r = env.run([...dirFlags(), ...args]);
      expect(r.status, r.stderr).toBe(254);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n'), r.stderr).toHaveLength(2);
      return r.stderr;
    };
    const withoutCommand = (line: string) => line.slice(line.indexOf(': ') + 2);

    // stage1.d, as rkt prepare reads it (before it looks at its image).
    const stage1 = putConfig(local, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1', location: 7 });
    const stage1Line = refused(['config']);
    expect(stage1Line).toBe(`config: stage1 configuration ${stage1}: location: must be a string, got 7\n`);
    expect(withoutCommand(refused(['prepare', '/nonexistent.aci']))).toBe(withoutCommand(stage1Line));
    putConfig(local, 'stage1.d', 'default.json', '{"rktKind": "stage1", "rktVersion": "v1",');
    expect(refused(['config'])).toMatch(new RegExp(`^config: stage1 configuration ${stage1}: .*JSON`));
    putConfig(local, 'stage1.d', 'default.json', { rktKind: 'stage1', rktVersion: 'v1' });

    // events.d, as rkt gc reads it.
    const events = putConfig(system, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { servers: ['http://127.0.0.1:4222'] } });
    const eventsLine = refused(['config']);
    expect(eventsLine).toBe(`config: events configuration ${events}: nats.servers[0]: must be nats://HOST:PORT or tls://HOST:PORT, got "http://127.0.0.1:4222"\n`);
    expect(withoutCommand(refused(['gc']))).toBe(withoutCommand(eventsLine));
    putConfig(system, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1', nats: { servers: ['nats://127.0.0.1:4222'], timeout: 'soon' } });
    expect(refused(['config'])).toBe(`config: events configuration ${events}: nats.timeout: must be a duration such as "2s", got "soon"\n`);
    putConfig(system, 'events.d', 'nats.json', { rktKind: 'events', rktVersion: 'v1' });

    // auth.d of the user directory, as rkt fetch reads it (before it asks any server).
    const auth = putConfig(user, 'auth.d', 'basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com'], type: 'basic', credentials: { user: 'u' } });
    const authLine = refused(['config']);
    expect(authLine).toMatch(new RegExp(`^config: ${auth}: credentials\\.password: `));
    expect(withoutCommand(refused(['fetch', 'https://127.0.0.1:1/app.aci']))).toBe(withoutCommand(authLine));
    putConfig(user, 'auth.d', 'basic.json', { rktKind: 'paths', rktVersion: 'v1' });
    expect(refused(['config'])).toBe(`config: ${auth}: no parser available for configuration of kind "paths" (auth.d holds kinds "auth" and "dockerAuth")\n`);
    putConfig(user, 'auth.d', 'basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com'], type: 'oauth', credentials: { token: 't' } });

    // Mended, the same directories print again.
    const r = config();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ stage0: [{ rktKind: 'auth', domains: ['foo.com'], type: 'oauth' }, { rktKind: 'paths' }, { rktKind: 'stage1' }] });
  });
});
