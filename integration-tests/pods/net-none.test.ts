// `rkt run --net=none` on real pods: under the systemd stage1 the pod has a network namespace of its own with only
// its loopback, up, shared by its apps, and `rkt enter` lands in it; the host's 127.0.0.1 is out of its reach,
// while a pod on the host's network (the default) reaches it. The fly stage1 refuses it.
import { readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, STAGE1S, RktEnv } from './harness.js';

let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
let server: Server;
let port: number;

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
const fly = STAGE1S.find((s) => s.name === 'fly')!;

beforeAll(async () => {
  ensureBuilt();
  // A TCP server on the host's loopback: whoever connects reads one line.
  server = createServer((socket) => socket.end('from-the-host\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
}, 600_000);
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});
afterEach(async () => {
  await env.cleanup();
});

/** The interface names of a /proc/net/dev. */
const interfaces = (text: string) =>
  text
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter((n) => n !== '')
    .sort();

// What the app reports: its interfaces, whether lo is up (IFF_UP of its flags), and what the host's server said.
const PROBE = `cat /proc/net/dev; echo "lo flags $(cat /sys/class/net/lo/flags)"; busybox nc 127.0.0.1 PORT </dev/null 2>/dev/null; echo "nc=$?"`;

describe('--net=none (systemd)', () => {
  beforeEach(() => {
    env = new RktEnv(systemd);
    aci = fileAci.path;
  });

  it("gives the pod only its loopback, up: the host's 127.0.0.1 is out of reach, which the default network reaches", async () => {
    const probe = PROBE.replace('PORT', String(port));
    // Started, not run: the host's server answers from this process, which spawnSync would block.
    const none = await env.start(['run', '--net=none', aci, '--exec=/bin/sh', '--', '-c', probe]).done;
    expect(none.stderr).toBe('');
    expect(none.status).toBe(0);
    expect(interfaces(none.stdout.split('lo flags')[0]!)).toEqual(['lo']);
    expect(none.stdout).toMatch(/^lo flags 0x9$/m);
    expect(none.stdout).toMatch(/^nc=1$/m);
    expect(none.stdout).not.toContain('from-the-host');

    const host = await env.start(['run', aci, '--exec=/bin/sh', '--', '-c', probe]).done;
    expect(host.status).toBe(0);
    expect(host.stdout).toContain('from-the-host\nnc=0\n');
    expect(interfaces(host.stdout.split('lo flags')[0]!).length).toBeGreaterThan(1);
  }, 120_000);

  it('is shared by the apps of the pod: one reaches the other over 127.0.0.1', async () => {
    const listen = 'echo from-the-server | busybox nc -l -p 18999';
    // The client tries until the server listens (the apps start side by side), and fails unless it heard it.
    const connect =
      'for i in $(busybox seq 200); do out=$(busybox nc 127.0.0.1 18999 </dev/null 2>/dev/null) && [ "$out" = from-the-server ] && echo "client: $out" && exit 0; sleep 0.1; done; exit 1';
    const r = await env.start(['run', '--net=none', aci, '--name=server', '--exec=/bin/sh', '--', '-c', listen, '---', aci, '--name=client', '--exec=/bin/sh', '--', '-c', connect]).done;
    const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
    expect(pods).toHaveLength(1);
    expect(env.status(pods[0]!.name).apps, JSON.stringify(r)).toEqual([
      { name: 'server', exit_code: 0 },
      { name: 'client', exit_code: 0 },
    ]);
    expect(r.stdout).toContain('client: from-the-server\n');
    expect(r.status).toBe(0);
  }, 120_000);

  it('shows no networks in rkt list and status, as rkt; rkt enter lands in the pod\'s network namespace', async () => {
    env.start(['run', '--net=none', aci, '--exec=/bin/sleep', '--', '1001']);
    const { uuid, pid } = await env.waitRunning();
    expect(readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));

    const list = env.run(['list', '--no-legend', '--full']);
    // UUID, APP, IMAGE NAME, IMAGE ID, STATE, CREATED, STARTED, NETWORKS: the last is empty.
    expect(list.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(list.stdout).toMatch(/\trunning\t[^\t]+\t[^\t]+\t\n$/);
    expect((JSON.parse(env.run(['list', '--format=json']).stdout) as { networks: unknown[] }[])[0]!.networks).toEqual([]);
    expect(env.run(['status', uuid]).stdout).toMatch(/^networks=$/m);

    const entered = env.run(['enter', uuid, 'cat', '/proc/net/dev']);
    expect(entered.status).toBe(0);
    expect(interfaces(entered.stdout)).toEqual(['lo']);
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    await env.waitState(uuid, 'exited');
  }, 120_000);

  it('is taken by run-prepared', async () => {
    const prepared = env.run(['prepare', aci, '--exec=/bin/cat', '--', '/proc/net/dev']);
    expect(prepared.status).toBe(0);
    // As run's: the metadata service is out of such a pod's reach; refused before anything, the pod left prepared.
    const mds = env.run(['run-prepared', '--net=none', '--mds-register', prepared.stdout.trim()]);
    expect(mds.stderr).toBe("run-prepared: --mds-register does not work with --net=none: the pod's apps could not reach the metadata service on the host (use --net=host)\n");
    expect(mds.status).toBe(254);
    expect(env.status(prepared.stdout.trim()).state).toBe('prepared');
    const r = await env.start(['run-prepared', '--net=none', prepared.stdout.trim()]).done;
    expect(r.stderr).toBe('');
    expect(interfaces(r.stdout)).toEqual(['lo']);
    expect(r.status).toBe(0);
  }, 120_000);
});

describe('--net=none (fly)', () => {
  beforeEach(() => {
    env = new RktEnv(fly);
    aci = fileAci.path;
  });

  const refusal = (cmd: string) =>
    `${cmd}: --net=none: stage1 coreos.com/rkt/stage1-fly cannot give a pod a network of its own (its image has no rkt-ts.dev/stage1/net-none annotation of version 1); use the systemd stage1\n`;

  it('is refused in one line naming fly, before any pod is made: fly runs its app on the host\'s network', () => {
    const r = env.run(['run', '--net=none', aci, '--exec=/bin/echo', '--', 'ran']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(refusal('run'));
    expect(r.status).toBe(254);
    expect(env.podUuids()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });

  it('is refused by run-prepared of a fly pod, which stays prepared', () => {
    const prepared = env.run(['prepare', aci, '--exec=/bin/echo', '--', 'ran']);
    const uuid = prepared.stdout.trim();
    const r = env.run(['run-prepared', '--net=none', uuid]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(refusal('run-prepared'));
    expect(r.status).toBe(254);
    expect(env.status(uuid).state).toBe('prepared');
    expect(env.mounts()).toEqual([]);
    // And runs as asked without it.
    expect(env.run(['run-prepared', uuid]).stdout).toBe('ran\n');
  });
});
