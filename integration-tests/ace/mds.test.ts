// `rkt metadata-service` and `rkt run --mds-register` end to end through the fly stage1: the app finds
// its metadata at AC_METADATA_URL, signs and verifies its identity, gc unregisters the pod, and without a
// service rkt says so in one line and prepares nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, RktEnv } from '../pods/harness.js';
import { MdsProcess } from './mds-service.js';

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
