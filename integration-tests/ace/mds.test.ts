// `rkt metadata-service` and `rkt run --mds-register` end to end through the fly stage1: the app finds
// its metadata at AC_METADATA_URL, signs and verifies its identity, gc unregisters the pod, and without a
// service rkt says so in one line and prepares nothing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, rktBin, RktEnv } from '../pods/harness.js';
import { MdsProcess } from './mds-service.js';

const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const fly = `--stage1-path=${join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci')}`;

let env: RktEnv;
let aci: string;
let mds: MdsProcess | undefined;

beforeAll(() => ensureBuilt(), 600_000);
beforeEach(async () => {
  env = new RktEnv();
  aci = await buildBusyboxAci(env.tmp);
});
afterEach(async () => {
  await mds?.stop();
  mds = undefined;
  await env.cleanup();
});

/** A shell script for the app: each endpoint's body on a line of its own, through busybox wget. */
const APP_SCRIPT = [
  'm="$AC_METADATA_URL/acMetadata/v1"',
  'w() { /bin/busybox wget -q -O - "$@"; echo; }',
  'echo "url=$AC_METADATA_URL"',
  'w "$m/pod/uuid"',
  'w "$m/apps/$AC_APP_NAME/image/id"',
  'w "$m/apps/$AC_APP_NAME/image/manifest"',
  'sig=$(/bin/busybox wget -q -O - --post-data "content=hello" "$m/pod/hmac/sign")',
  'uuid=$(/bin/busybox wget -q -O - "$m/pod/uuid")',
  // base64 may hold + and /: form-encode them.
  'esig=$(echo "$sig" | sed -e "s/+/%2B/g" -e "s/\\//%2F/g" -e "s/=/%3D/g")',
  '/bin/busybox wget -q -O /dev/null --post-data "content=hello&uuid=$uuid&signature=$esig" "$m/pod/hmac/verify" && echo verify-ok || echo verify-failed',
  '/bin/busybox wget -q -O /dev/null --post-data "content=other&uuid=$uuid&signature=$esig" "$m/pod/hmac/verify" 2>/dev/null && echo forged-ok || echo forged-refused',
].join('\n');

describe('rkt metadata-service and rkt run --mds-register (fly)', () => {
  it("gives the app AC_METADATA_URL with its pod's data, and gc unregisters the pod", async () => {
    mds = await MdsProcess.start(env.tmp);
    const uuidFile = join(env.tmp, 'uuid');
    const r = env.run(['run', fly, '--mds-register', `--mds-socket=${mds.socket}`, `--uuid-file-save=${uuidFile}`, aci, '--exec', '/bin/sh', '--', '-c', APP_SCRIPT]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^url=http://127\\.0\\.0\\.1:${mds.port}/[A-Za-z0-9_-]{43}$`));
    expect(lines[1]).toBe(uuid);
    const manifest = JSON.parse(env.run(['cat-manifest', uuid]).stdout) as { apps: Array<{ image: { id: string } }> };
    expect(lines[2]).toBe(manifest.apps[0]?.image.id);
    expect(JSON.parse(lines[3] ?? '')).toMatchObject({ acKind: 'ImageManifest', name: 'example.com/busybox' });
    expect(lines.slice(4, 6)).toEqual(['verify-ok', 'forged-refused']);
    expect(await mds.registered()).toEqual([uuid]);

    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.status).toBe(0);
    expect(gc.stdout).toContain(`Garbage collecting pod "${uuid}"`);
    expect(await mds.registered()).toEqual([]);
    // The token the app had is dead.
    const res = await fetch(`${(lines[0] ?? '').slice(4)}/acMetadata/v1/pod/uuid`);
    expect(res.status).toBe(404);
  });

  it('rkt run-prepared --mds-register registers a prepared pod', async () => {
    mds = await MdsProcess.start(env.tmp);
    const prepared = env.run(['prepare', fly, aci, '--exec', '/bin/sh', '--', '-c', '/bin/busybox wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"']);
    expect(prepared.status).toBe(0);
    const uuid = prepared.stdout.trim();
    const r = env.run(['run-prepared', '--mds-register', `--mds-socket=${mds.socket}`, uuid]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(uuid);
    expect(r.status).toBe(0);
    expect(await mds.registered()).toEqual([uuid]);
    expect(env.run(['rm', uuid]).status).toBe(0);
    expect(await mds.registered()).toEqual([]);
  });

  // A kill -9 cannot show a missing fsync (the page cache outlives the process) and a power cut is not something a
  // test here can make: what it can see is the order of the calls, that each file's temp is synced before it is
  // renamed into place (strace -f: the sync runs on Node's thread pool), and what is left after.
  it.skipIf(spawnSync('strace', ['-V']).status !== 0)("run-prepared --mds-register syncs mds-url and mds-socket before their rename, root's only, whole, no temp left", async () => {
    mds = await MdsProcess.start(env.tmp);
    const prepared = env.run(['prepare', fly, aci, '--exec', '/bin/true']);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    const trace = join(env.tmp, 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', rktBin, ...env.args(['run-prepared', '--mds-register', `--mds-socket=${mds.socket}`, uuid])], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const calls = readFileSync(trace, 'utf8').split('\n');
    for (const name of ['mds-url', 'mds-socket']) {
      const renamed = calls.findIndex((l) => /\brename(at2?)?\(/.test(l) && l.includes(`/${name}"`) && l.endsWith(' = 0'));
      expect(renamed, `${name} renamed into place`).toBeGreaterThan(0);
      const temp = /"([^"]*)"/.exec(calls[renamed]!)![1]!;
      const opened = calls.findIndex((l) => l.includes(`"${temp}", O_WRONLY|O_CREAT`));
      expect(opened, `${name}: its temp ${temp} created`).toBeGreaterThanOrEqual(0);
      // Made root's only: the URL's token is never readable by others, not even as a temp file.
      expect(calls[opened]).toMatch(/, 0600\) = [0-9]+$/);
      const fd = / = ([0-9]+)$/.exec(calls[opened]!)![1];
      // Entered before the rename is done before it: the main thread renames once the pool's fsync has returned.
      expect(calls.slice(opened, renamed).some((l) => new RegExp(`\\bf(data)?sync\\(${fd}[) ]`).test(l)), `${name}: fsync of ${temp} before its rename`).toBe(true);
    }
    const dirs = readdirSync(join(env.dataDir, 'pods'), { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith(`/${uuid}`));
    expect(dirs).toHaveLength(1);
    const dir = join(env.dataDir, 'pods', dirs[0]!);
    expect(readFileSync(join(dir, 'mds-socket'), 'utf8')).toBe(`${mds.socket}\n`);
    expect(readFileSync(join(dir, 'mds-url'), 'utf8')).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${mds.port}/[A-Za-z0-9_-]{43}\\n$`));
    for (const name of ['mds-url', 'mds-socket']) expect(statSync(join(dir, name)).mode & 0o777, name).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  it('without --mds-register the app has no AC_METADATA_URL and nothing is registered', async () => {
    mds = await MdsProcess.start(env.tmp);
    const r = env.run(['run', fly, aci, '--exec', '/bin/sh', '--', '-c', 'echo "[$AC_METADATA_URL]"']);
    expect(r.stdout).toBe('[]\n');
    expect(await mds.registered()).toEqual([]);
  });

  it('with --mds-register and no service: one line, exit 254, no pod prepared', () => {
    const socket = join(env.tmp, 'none.sock');
    const r = env.run(['run', fly, '--mds-register', `--mds-socket=${socket}`, aci]);
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`run: cannot reach the metadata service at ${socket}: no such socket (is "rkt metadata-service" running?)\n`);
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toEqual([]);
  });

  // systemd-socket-activate is Debian's systemd package (installed on the machines this runs on, though PID 1 is not
  // systemd): without it there is nothing to hand a socket over.
  it.skipIf(!existsSync(SOCKET_ACTIVATE))('accepts registrations on the socket systemd hands over (socket activation) and leaves that socket in place', async () => {
    const sock = join(env.tmp, 'activated.sock');
    // systemd-socket-activate listens, and on the first connection execs rkt with the socket as fd 3.
    const child = spawn(SOCKET_ACTIVATE, ['-l', sock, '-E', 'PATH', rktBin, 'metadata-service', '--listen-port=0', `--mds-socket=${sock}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const end = Date.now() + 20_000;
      while (!existsSync(sock) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const uuidFile = join(env.tmp, 'uuid');
      const script = '/bin/busybox wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"';
      const r = env.run(['run', fly, '--mds-register', `--mds-socket=${sock}`, `--uuid-file-save=${uuidFile}`, aci, '--exec', '/bin/sh', '--', '-c', script]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(readFileSync(uuidFile, 'utf8').trim());
      // Its stderr is read once spawnSync above lets the event loop run again.
      const logged = /metadata-service: registered pod [0-9a-f-]{36} \(1 apps\)/;
      while (!logged.test(stderr) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(stderr).toMatch(logged);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // The socket belongs to whoever activated the service (a .socket unit's RemoveOnStop=).
      expect(existsSync(sock)).toBe(true);
      rmSync(sock, { force: true });
    }
  });

  it('stops cleanly on SIGTERM and removes its socket; refuses a port in use in one line', async () => {
    mds = await MdsProcess.start(env.tmp);
    expect(existsSync(mds.socket)).toBe(true);
    const second = await MdsProcess.start(join(env.tmp, 'second'), [`--listen-port=${mds.port}`]).catch((e: unknown) => e);
    expect((second as Error).message).toContain(`metadata-service: cannot listen on port ${mds.port}: address in use`);
    expect(await mds.stop()).toBe(0);
    expect(existsSync(mds.socket)).toBe(false);
    expect(mds.stderr).toContain('metadata-service: stopped');
  });
});
