// rkt's CNI pod networks on real pods with the systemd stage1 and Debian's plugins (/usr/lib/cni): `--net=default`
// (ptp, 172.16.28.0/24, masquerading, default route), `default-restricted` (172.17.0.0/16, the host only), a
// network of the local configuration's net.d with CNI_ARGS, rkt list and status, teardown at the pod's end
// and by gc after a kill -9, and the refusals. One file: the built-in subnets are the machine's, and its tests
// run one after the other.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { BUILTIN_IPAM_DATA_DIR, callCgroupHierarchies, teardownPodNetworks } from '@rkt/cni';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, killCniPlugins, prepareStage1Stores, STAGE1S, RktEnv } from './harness.js';
import { MdsProcess } from '../ace/mds-service.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
const fly = STAGE1S.find((s) => s.name === 'fly')!;

let env: RktEnv;
let aci: string;
let server: Server;
let port: number;
let vethsBefore: Set<string>;

const veths = (): Set<string> =>
  new Set(
    execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0])
      .filter((n): n is string => n !== undefined && n !== ''),
  );
const natRules = (): string => execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
/** Where host-local keeps a network's leases: the machine's directory for the built-ins, else the data directory's. */
const leaseDir = (net: string, dataDir = env.dataDir): string =>
  net === 'default' || net === 'default-restricted' ? join(BUILTIN_IPAM_DATA_DIR, net) : join(dataDir, 'networks', net);
/**
 * host-local's leases of a network held by pods (by default this test's): files named by the address, whose
 * first line is the pod's UUID (its CNI_CONTAINERID).
 */
const leases = (net: string, uuids: readonly string[] = env.podUuids(), dataDir = env.dataDir): string[] => {
  const dir = leaseDir(net, dataDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^[0-9.]+$/.test(f) && uuids.includes(readFileSync(join(dir, f), 'utf8').split(/\r?\n/)[0]!));
};
/** host-local's last allocated address of a built-in network: changed by every lease it hands out. */
const lastReserved = (net: string): string => {
  const file = join(leaseDir(net), 'last_reserved_ip.0');
  return existsSync(file) ? readFileSync(file, 'utf8') : 'none';
};
/** A plugin beside its configuration (net.d is searched first) that records each call; its answer is `result`. */
const recorder = (conf: string, name: string, calls: string, result = '{"cniVersion":"0.3.1"}'): void =>
  writeFileSync(join(conf, 'net.d', name), `#!/bin/sh\necho "$CNI_COMMAND" >> '${calls}'\ncat >/dev/null\necho '${result}'\n`, { mode: 0o755 });
const recorded = (calls: string): string => (existsSync(calls) ? readFileSync(calls, 'utf8') : 'no call');

beforeAll(async () => {
  ensureBuilt();
  prepareStage1Stores(systemd, fly);
  // A TCP server on every host address: the pods reach it through their gateway (the host's end of the veth).
  server = createServer((socket) => socket.end('from-the-host\n'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as { port: number }).port;
}, 600_000);
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Every pod of the test gone, with its networks: nothing of theirs left on the host. */
afterEach(async () => {
  const uuids = env.podUuids();
  for (const c of env.children) c.kill('SIGKILL');
  // A plugin a killed run left in its ADD would finish after the teardown below (which does not wait for the
  // pod's lock when gc could not collect the pod) and leave its chain: killed with its process group first.
  killCniPlugins(uuids);
  // The pods end (their runs killed), then gc tears down their networks.
  for (let i = 0; i < 100 && env.podUuids().some((u) => existsSync(join(env.dataDir, 'pods', 'run', u))); i++) {
    env.run(['gc', '--grace-period=0s']);
    await new Promise((r) => setTimeout(r, 100));
  }
  env.run(['gc', '--grace-period=0s']);
  const left: string[] = [];
  for (const uuid of uuids) {
    if (existsSync(`/run/netns/rkt-${uuid}`)) {
      left.push(`/run/netns/rkt-${uuid}`);
      // Removed all the same, for the next tests.
      const dir = readdirSync(join(env.dataDir, 'pods')).map((s) => join(env.dataDir, 'pods', s, uuid)).find((d) => existsSync(d)) ?? env.tmp;
      teardownPodNetworks({ podDir: dir, uuid, warn: () => {} });
    }
    if (natRules().includes(uuid)) left.push(`iptables rules of ${uuid}`);
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(uuid)) left.push(`mounts of ${uuid}`);
  }
  const newVeths = [...veths()].filter((v) => !vethsBefore.has(v));
  await env.cleanup();
  expect(left).toEqual([]);
  expect(newVeths).toEqual([]);
});

// What the app reports: its IPv4 addresses and routes, and what the host's server said through the gateway.
const probe = (gateway: string) =>
  `busybox ip -4 -o addr; busybox ip route; echo "host says: $(busybox nc ${gateway} ${port} </dev/null)"`;

/** Connects to a pod's server until it listens; resolves with what it said. */
async function readFrom(ip: string, p: number, timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<string>((resolve, reject) => {
        let got = '';
        const s = connect(p, ip);
        s.on('data', (d) => (got += d.toString()));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('CNI networks (systemd)', () => {
  beforeEach(async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    aci = await buildBusyboxAci(env.tmp);
    vethsBefore = veths();
  });

  it('--net=default: eth0 on 172.16.28.0/24 with the default route, the host reaches the pod and the pod the host; list and status show it; nothing is left after the pod and gc', async () => {
    const script = `${probe('172.16.28.1')}; echo from-the-pod | busybox nc -l -p 18080`;
    const run = env.start(['run', '--net=default', aci, '--exec=/bin/sh', '--', '-c', script]);
    const { uuid } = await env.waitRunning();
    const listed = JSON.parse(env.run(['list', '--format=json']).stdout) as { networks: { netName: string; ifName: string; ip: string; mask: string; args: string }[] }[];
    const nets = listed[0]!.networks;
    expect(nets.map((n) => [n.netName, n.ifName, n.mask, n.args])).toEqual([['default', 'eth0', '255.255.255.0', '']]);
    const ip = nets[0]!.ip;
    expect(ip).toMatch(/^172\.16\.28\.[0-9]+$/);
    expect(env.run(['list', '--no-legend']).stdout).toMatch(new RegExp(`\\trunning\\t[^\\t]+\\t[^\\t]+\\tdefault:ip4=${ip.replace(/\./g, '\\.')}\\n$`));
    expect(env.run(['status', uuid]).stdout).toMatch(new RegExp(`^networks=default:ip4=${ip.replace(/\./g, '\\.')}$`, 'm'));
    expect((JSON.parse(env.run(['status', '--format=json', uuid]).stdout) as { networks: { ip: string }[] }).networks.map((n) => n.ip)).toEqual([ip]);
    expect(leases('default')).toEqual([ip]);
    expect(natRules()).toContain(`id: \\"${uuid}\\"`);
    // rkt enter lands in the pod's network namespace.
    expect(env.run(['enter', uuid, 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0']).stdout).toContain(`inet ${ip}/24`);
    // The host reaches the pod's server at its address; the app then exits.
    expect(await readFrom(ip, 18080)).toBe('from-the-pod\n');
    const r = await run.done;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`eth0\\s+inet ${ip.replace(/\./g, '\\.')}/24`));
    expect(r.stdout).toMatch(/^default via 172\.16\.28\.1 dev eth0/m);
    expect(r.stdout).toContain('host says: from-the-host\n');
    // Torn down as the pod ended: the lease, the rules, the namespace; rkt list still shows the network.
    expect(leases('default')).toEqual([]);
    expect(natRules()).not.toContain(uuid);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(env.run(['status', uuid]).stdout).toMatch(new RegExp(`^networks=default:ip4=${ip.replace(/\./g, '\\.')}$`, 'm'));
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.podUuids()).toEqual([]);
  }, 120_000);

  it('two default pods get different addresses and reach each other', async () => {
    const a = env.start(['run', '--net', aci, '--exec=/bin/sh', '--', '-c', 'echo from-a | busybox nc -l -p 18081']);
    const { uuid: ua } = await env.waitRunning();
    const ipOf = (uuid: string) => /networks=default:ip4=([0-9.]+)/.exec(env.run(['status', uuid]).stdout)![1]!;
    const ipA = ipOf(ua);
    const b = await env.start(['run', '--net=default', aci, '--exec=/bin/sh', '--', '-c', `busybox ip -4 -o addr show eth0; busybox nc ${ipA} 18081 </dev/null`]).done;
    expect(b.stderr).toBe('');
    expect(b.status).toBe(0);
    expect(b.stdout).toContain('from-a\n');
    const ipB = /inet (172\.16\.28\.[0-9]+)\/24/.exec(b.stdout)![1];
    expect(ipB).not.toBe(ipA);
    const ra = await a.done;
    expect(ra.status).toBe(0);
  }, 120_000);

  it('--net=default-restricted reaches the host, and has no default route', async () => {
    const r = await env.start(['run', '--net=default-restricted', aci, '--exec=/bin/sh', '--', '-c', probe('172.17.0.1')]).done;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/eth0\s+inet 172\.17\.[0-9]+\.[0-9]+\/16/);
    expect(r.stdout).not.toMatch(/^default/m);
    expect(r.stdout).toContain('host says: from-the-host\n');
  }, 120_000);

  it('--private-users with a CNI network is refused in one line: no pod by run, a prepared pod left prepared by run-prepared', () => {
    // nspawn makes the pod's user namespace first, and then may not join a network namespace the host's owns.
    const line = (net: string) => `--net=${net} with --private-users: a pod in a user namespace of its own cannot join CNI networks (its nspawn cannot enter a network namespace the host's user namespace owns); use --net=host or --net=none`;
    const r = env.run(['run', '--net=default', '--private-users', aci, '--exec=/bin/true']);
    expect([r.status, r.stderr]).toEqual([254, `run: ${line('default')}\n`]);
    expect(env.podUuids()).toEqual([]);
    const prepared = env.run(['prepare', '--quiet', '--private-users', aci, '--exec=/bin/true']);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    const rp = env.run(['run-prepared', '--net=default-restricted', uuid]);
    expect(rp.status).toBe(254);
    expect(rp.stderr).toBe(`run-prepared: ${line('default-restricted')}\n`);
    expect(existsSync(join(env.dataDir, 'pods', 'prepared', uuid))).toBe(true);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
  });

  it('a network of the local configuration, with the address asked for in its CNI_ARGS (rkt adds default-restricted)', async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    writeFileSync(join(conf, 'net.d', '10-testnet.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'testnet', type: 'ptp', ipam: { type: 'host-local', subnet: '10.213.100.0/24' } }));
    const run = env.start(['run', `--local-config=${conf}`, '--net=testnet:IP=10.213.100.50', aci, '--exec=/bin/sh', '--', '-c', 'busybox ip -4 -o addr; echo from-testnet | busybox nc -l -p 18082']);
    const { uuid } = await env.waitRunning();
    expect(env.run(['status', uuid]).stdout).toMatch(/^networks=testnet:ip4=10\.213\.100\.50, default-restricted:ip4=172\.17\.[0-9]+\.[0-9]+$/m);
    expect(leases('testnet')).toEqual(['10.213.100.50']);
    expect(await readFrom('10.213.100.50', 18082)).toBe('from-testnet\n');
    const r = await run.done;
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/eth0\s+inet 10\.213\.100\.50\/24/);
    expect(r.stdout).toMatch(/eth1\s+inet 172\.17\.[0-9]+\.[0-9]+\/16/);
    expect(leases('testnet')).toEqual([]);
  }, 120_000);

  /** An image with a port named http (18090/tcp). */
  async function webAci(): Promise<string> {
    await buildBusyboxAci(env.tmp, 'example.com/web');
    const manifestPath = join(env.tmp, 'example-com-web-layout', 'manifest');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { app: Record<string, unknown> };
    manifest.app.ports = [{ name: 'http', protocol: 'tcp', port: 18090 }];
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const web = join(env.tmp, 'web.aci');
    await buildAciFromLayout(join(env.tmp, 'example-com-web-layout'), web);
    return web;
  }

  it("a plugin's DNS (the configuration's dns, passed on by ptp) makes the apps' resolv.conf as rkt's rkt-resolv.conf, the first network's winning; --dns overrides it", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const dns = (n: string) => ({ nameservers: [`10.213.10${n}.53`], search: [`net${n}.test`, 'example.test'], options: ['ndots:2'], domain: `net${n}.test` });
    writeFileSync(join(conf, 'net.d', '10-dnsone.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'dnsone', type: 'ptp', ipam: { type: 'host-local', subnet: '10.213.101.0/24' }, dns: dns('1') }));
    writeFileSync(join(conf, 'net.d', '20-dnstwo.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'dnstwo', type: 'ptp', ipam: { type: 'host-local', subnet: '10.213.102.0/24' }, dns: dns('2') }));
    const r = env.run(['run', `--local-config=${conf}`, '--net=dnstwo,dnsone', aci, '--exec=/bin/cat', '--', '/etc/resolv.conf']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('# Generated by rkt from network dnsone\n\nsearch net1.test example.test\nnameserver 10.213.101.53\noptions ndots:2\ndomain net1.test\n');
    // rkt run's own --dns wins over the networks'.
    const own = env.run(['run', `--local-config=${conf}`, '--net=dnsone', '--dns=10.213.1.1', aci, '--exec=/bin/cat', '--', '/etc/resolv.conf']);
    expect(own.status, own.stderr).toBe(0);
    expect(own.stdout).toContain('nameserver 10.213.1.1\n');
    expect(own.stdout).not.toContain('10.213.101.53');
  }, 120_000);

  it("--port=NAME:HOSTPORT forwards a host port to the app's port of that name (the portmap plugin), removed with the pod", async () => {
    const web = await webAci();
    const hostIp = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal && !a.address.startsWith('172.1'))!.address;

    const run = env.start(['run', '--net=default', '--port=http:28090', web, '--exec=/bin/sh', '--', '-c', 'echo from-the-forwarded-port | busybox nc -l -p 18090']);
    const { uuid } = await env.waitRunning();
    expect(natRules()).toMatch(new RegExp(`${uuid}.*--dports 28090`));
    expect(await readFrom(hostIp, 28090)).toBe('from-the-forwarded-port\n');
    const r = await run.done;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(natRules()).not.toContain(uuid);
    expect(natRules()).not.toContain('28090');
    // A name no app has is refused before the pod is made.
    const unknown = env.run(['run', '--net=default', '--port=https:28091', web, '--exec=/bin/true']);
    expect(unknown.stderr).toBe('run: port "https": no app of the pod has a port of that name (ports: http)\n');
    expect(unknown.status).toBe(254);
  }, 120_000);

  it("rkt app sandbox --port=NAME:PROTO:PODPORT:HOSTIP:HOSTPORT (rkt's podPort form) on --net=default forwards the host port from the pod's start to the app added later that listens; stop and gc leave no rule; refusals in one line", async () => {
    const experiment = { RKT_EXPERIMENT_APP: 'true' };
    const sandbox = (flags: readonly string[]) => ['app', 'sandbox', `--stage1-path=${systemd.aci}`, ...flags];
    const port = '--port=http:tcp:18095:0.0.0.0:28095';
    // Refused in one line, exit 254, before any pod is made.
    const refusals: [string[], string][] = [
      [[port], `app sandbox: ${port}: forwards a host port to a pod on a CNI network (--net=default): a pod on the host's network (--net=host, the default) has the host's ports already`],
      [['--net=host', port], `app sandbox: ${port}: forwards a host port to a pod on a CNI network (--net=default): a pod on the host's network (--net=host, the default) has the host's ports already`],
      [['--net=none', port], `app sandbox: ${port}: forwards a host port to a pod on a CNI network (--net=default): a pod with --net=none has no network to forward to`],
      [['--net=default', '--port=http:28095'], 'app sandbox: --port=http:28095: must have five parts separated by colons (NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)'],
      [['--net=default', '--port=http:sctp:18095:0.0.0.0:28095'], 'app sandbox: --port=http:sctp:18095:0.0.0.0:28095: protocol "sctp" is not tcp or udp (NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)'],
      [['--net=default', '--port=http:tcp:18095:localhost:28095'], 'app sandbox: --port=http:tcp:18095:localhost:28095: host IP "localhost" is not an IPv4 address (NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)'],
      [['--net=default', '--port=http:tcp:0:0.0.0.0:28095'], 'app sandbox: --port=http:tcp:0:0.0.0.0:28095: pod port "0" is not 1-65535 (NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)'],
      [['--net=default', port, '--port=alt:tcp:18096:127.0.0.1:28095'], `app sandbox: --port=alt:tcp:18096:127.0.0.1:28095: host port tcp 127.0.0.1:28095 is already forwarded, to pod port 18095 by ${port}`],
    ];
    for (const [flags, line] of refusals) {
      const r = env.run(sandbox(flags), { env: experiment });
      expect([r.status, r.stdout, r.stderr]).toEqual([254, '', `${line}\n`]);
    }
    expect(env.podUuids()).toEqual([]);

    // The same host port on udp, or on another address than 0.0.0.0's, is another forward (rkt's rule).
    const run = env.start(sandbox(['--net=default', port, '--port=dns:udp:18053:0.0.0.0:28095']), { env: experiment });
    const { uuid } = await env.waitRunning();
    const manifest = JSON.parse(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'pod'), 'utf8')) as { ports: unknown };
    expect(manifest.ports).toEqual([
      { name: 'http', hostPort: 28095, hostIP: '0.0.0.0', podPort: { name: 'http', protocol: 'tcp', port: 18095, count: 1, socketActivated: false } },
      { name: 'dns', hostPort: 28095, hostIP: '0.0.0.0', podPort: { name: 'dns', protocol: 'udp', port: 18053, count: 1, socketActivated: false } },
    ]);
    // Forwarded from the sandbox's start, before any app.
    const ip = /networks=default:ip4=([0-9.]+)/.exec(env.run(['status', uuid]).stdout)![1]!;
    expect(natRules()).toMatch(new RegExp(`-p tcp .*${uuid}.*--dports 28095`));
    expect(natRules()).toContain(`-p tcp -m tcp --dport 28095 -j DNAT --to-destination ${ip}:18095\n`);
    expect(natRules()).toContain(`-p udp -m udp --dport 28095 -j DNAT --to-destination ${ip}:18053\n`);

    // An app added later (its image has no port of that name) listens on the pod port: the host reaches it.
    const app = (args: string[]) => env.run(['app', ...args], { env: experiment });
    const add = app(['add', uuid, aci, '--name=web', '--exec=/bin/sh', '--', '-c', 'echo from-the-sandbox-port | busybox nc -l -p 18095']);
    expect([add.status, add.stderr]).toEqual([0, '']);
    const start = app(['start', uuid, '--app=web']);
    expect([start.status, start.stderr]).toEqual([0, '']);
    const hostIp = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal && !a.address.startsWith('172.1'))!.address;
    expect(await readFrom(hostIp, 28095)).toBe('from-the-sandbox-port\n');
    const rm = app(['rm', uuid, '--app=web']);
    expect([rm.status, rm.stderr]).toEqual([0, '']);
    // The forward is the pod's, not the app's: it stays until the pod stops.
    expect(natRules()).toMatch(new RegExp(`${uuid}.*--dports 28095`));

    const stop = env.run(['stop', uuid]);
    expect([stop.status, stop.stderr]).toEqual([0, '']);
    const r = await run.done;
    expect(r.stderr).toBe('');
    expect(natRules()).not.toContain(uuid);
    expect(natRules()).not.toContain('28095');
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([]);
    expect(leases('default', [uuid])).toEqual([]);
  }, 120_000);

  it('run-prepared of a pod prepared with --port, on the host\'s network or none, is refused in one line as rkt run --port is; the pod stays prepared', async () => {
    const web = await webAci();
    const prepared = env.run(['prepare', '--quiet', '--port=http:10.0.0.1:28092', web, '--exec=/bin/true']);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    const line = (why: string) => `run-prepared: --port=http:10.0.0.1:28092: forwards a host port to a pod on a CNI network (--net=default): ${why}\n`;
    const host = "a pod on the host's network (--net=host, the default) has the host's ports already";
    for (const [net, why] of [[[], host], [['--net=host'], host], [['--net=none'], 'a pod with --net=none has no network to forward to']] as const) {
      const r = env.run(['run-prepared', ...net, uuid]);
      expect([r.status, r.stdout, r.stderr]).toEqual([254, '', line(why)]);
      expect(existsSync(join(env.dataDir, 'pods', 'prepared', uuid))).toBe(true);
    }
    // rkt run says it in the same words.
    const run = env.run(['run', '--port=http:10.0.0.1:28092', web, '--exec=/bin/true']);
    expect([run.status, run.stderr]).toEqual([254, line(host).replace(/^run-prepared/, 'run')]);
    // So is rkt run of a pod manifest with ports, before any pod is made.
    const manifest = join(env.tmp, 'pod.json');
    const app = { exec: ['/bin/true'], user: '0', group: '0', ports: [{ name: 'http', protocol: 'tcp', port: 18090 }] };
    writeFileSync(manifest, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'web', image: { name: 'example.com/web' }, app }], ports: [{ name: 'http', hostPort: 28093 }] }));
    const before = env.podUuids();
    const fromManifest = env.run(['run', `--pod-manifest=${manifest}`]);
    expect([fromManifest.status, fromManifest.stderr]).toEqual([254, `run: --port=http:28093: forwards a host port to a pod on a CNI network (--net=default): ${host}\n`]);
    expect(env.podUuids()).toEqual(before);
  }, 120_000);

  it("--mds-register on --net=default: the app reaches the metadata service at the host's end of its network (rkt's gateway address), and reads its pod's UUID", async () => {
    const mds = await MdsProcess.start(env.tmp);
    try {
      const script = 'echo "url=$AC_METADATA_URL"; echo "uuid=$(/bin/busybox wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid")"';
      const uuidFile = join(env.tmp, 'uuid');
      const r = env.run(['run', '--net=default', '--mds-register', `--mds-socket=${mds.socket}`, `--uuid-file-save=${uuidFile}`, aci, '--exec=/bin/sh', '--', '-c', script]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      expect(r.stdout).toMatch(new RegExp(`^url=http://172\\.16\\.28\\.1:${mds.port}/[A-Za-z0-9_-]{43}$`, 'm'));
      expect(r.stdout).toContain(`\nuuid=${uuid}\n`);
    } finally {
      await mds.stop();
    }
  }, 120_000);

  it("a kill -9 of the pod's stage1 (nspawn's parent): rkt gc tears its network down", async () => {
    const run = env.start(['run', '--net=default', aci, '--exec=/bin/sleep', '--', '1000']);
    const { uuid } = await env.waitRunning();
    expect(leases('default')).toHaveLength(1);
    const nspawn = Number(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8'));
    const stage1 = Number(readFileSync(`/proc/${nspawn}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(stage1).toBe(run.child.pid);
    process.kill(stage1, 'SIGKILL');
    await run.done;
    await env.waitState(uuid, 'exited');
    // Left by the killed run: the namespace, the lease, the rules.
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(true);
    expect(natRules()).toContain(uuid);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.stderr).toBe('');
    expect(gc.status).toBe(0);
    expect(env.podUuids()).toEqual([]);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(natRules()).not.toContain(uuid);
    expect(leases('default', [uuid])).toEqual([]);
  }, 120_000);

  it('a configuration that does not parse, and a plugin that fails, stop the pod in one line; nothing is left', async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const bad = join(conf, 'net.d', '10-bad.conf');
    writeFileSync(bad, '{"name": "bad",');
    const r = env.run(['run', `--local-config=${conf}`, '--net=default', aci, '--exec=/bin/true']);
    expect(r.stderr).toMatch(new RegExp(`^stage1-systemd run: error loading ${bad}: [^\\n]+\\n$`));
    expect(r.status).toBe(254);

    writeFileSync(bad, JSON.stringify({ cniVersion: '0.3.1', name: 'broken', type: 'ptp', ipam: { type: 'host-local', subnet: 'nonsense' } }));
    const failed = env.run(['run', `--local-config=${conf}`, '--net=default,broken', aci, '--exec=/bin/true']);
    expect(failed.stderr).toBe('stage1-systemd run: error adding network "broken" (plugin ptp): invalid CIDR address: nonsense\n');
    expect(failed.status).toBe(254);
    // Nothing of the pod's networks is left (broken, a user's file, comes before the built-in default).
    expect(leases('default')).toEqual([]);

    const missing = env.run(['run', `--local-config=${conf}`, '--net=nonesuch', aci, '--exec=/bin/true']);
    expect(missing.stderr).toBe(`stage1-systemd run: networks not found in ${join(conf, 'net.d')}: nonesuch\n`);
    expect(missing.status).toBe(254);
  }, 120_000);

  it('an app refused (an exec, a user, a working directory its root lacks) stops the pod in one line before any network is set up: no plugin runs', () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    // A plugin that records each call and joins nothing.
    recorder(conf, 'recorder', calls);
    writeFileSync(join(conf, 'net.d', '10-recorded.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'recorded', type: 'recorder' }));
    const reservedBefore = lastReserved('default');
    const refused = (args: string[]) => env.run(['run', `--local-config=${conf}`, '--net=default,recorded', aci, ...args]);
    const line = (why: string) => [254, '', `stage1-systemd run: app busybox: ${why}\n`];
    const exec = refused(['--exec=/bin/nonexistent']);
    expect([exec.status, exec.stdout, exec.stderr]).toEqual(line('cannot execute /bin/nonexistent: no such file in its root filesystem'));
    const user = refused(['--user=nosuch', '--exec=/bin/true']);
    expect([user.status, user.stdout, user.stderr]).toEqual(line('no user nosuch in /etc/passwd of its root filesystem'));
    const wd = refused(['--working-dir=/nonexistent', '--exec=/bin/true']);
    expect([wd.status, wd.stdout, wd.stderr]).toEqual(line('working directory /nonexistent: no such directory in its root filesystem'));
    // Neither the recorder nor the default network's ptp ran: host-local (the default's IPAM) moves its last
    // reserved address with every lease it hands out, and keeps it after a DEL.
    expect(recorded(calls)).toBe('no call');
    expect(lastReserved('default')).toBe(reservedBefore);
    for (const uuid of env.podUuids()) expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    // The same pod runs once its network is the only thing it asks for, which is what the recorder saw.
    const ran = refused(['--exec=/bin/true']);
    expect([ran.status, ran.stderr]).toEqual([0, '']);
    expect(readFileSync(calls, 'utf8')).toBe('ADD\nDEL\n');
  }, 120_000);

  /** The busybox image with /etc/resolv.conf a directory: no resolv.conf can be written there. */
  async function dirResolvAci(): Promise<string> {
    const dir = join(env.tmp, 'dir-resolv');
    await buildBusyboxAci(dir);
    mkdirSync(join(dir, 'busybox-layout', 'rootfs', 'etc', 'resolv.conf'));
    const out = join(dir, 'dir-resolv.aci');
    await buildAciFromLayout(join(dir, 'busybox-layout'), out);
    return out;
  }

  it("an image whose /etc/resolv.conf cannot be written: refused before any plugin runs when a network's configuration gives DNS, after them (torn down) when only a result can tell, run when no network can give DNS", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    // bridge's way, recorded: its result carries its configuration's dns (net.d is searched before /usr/lib/cni).
    const withDns = '{"cniVersion":"0.3.1","dns":{"nameservers":["10.213.1.53"]}}';
    recorder(conf, 'bridge', calls, withDns);
    recorder(conf, 'thirdparty', calls, withDns);
    writeFileSync(join(conf, 'net.d', '10-dnsnet.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'dnsnet', type: 'bridge', bridge: 'rkt-dnstest', dns: { nameservers: ['10.213.1.53'] } }));
    writeFileSync(join(conf, 'net.d', '20-other.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'other', type: 'thirdparty' }));
    const image = await dirResolvAci();
    const refusal = [254, '', 'stage1-systemd run: app busybox: cannot write /etc/resolv.conf in its root filesystem: it resolves to /etc/resolv.conf, a directory\n'];
    const reservedBefore = lastReserved('default');

    const early = env.run(['run', `--local-config=${conf}`, '--net=default,dnsnet', image, '--exec=/bin/true']);
    expect([early.status, early.stdout, early.stderr]).toEqual(refusal);
    expect(recorded(calls)).toBe('no call');
    expect(lastReserved('default')).toBe(reservedBefore);
    for (const uuid of env.podUuids()) expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);

    // A plugin of no known kind may or may not give DNS: only its result tells, and the pod is refused after it.
    const late = env.run(['run', `--local-config=${conf}`, '--net=default,other', image, '--exec=/bin/true']);
    expect([late.status, late.stdout, late.stderr]).toEqual(refusal);
    expect(recorded(calls)).toBe('ADD\nDEL\n');
    expect(leases('default')).toEqual([]);
    expect(lastReserved('default')).not.toBe(reservedBefore);

    // rkt's built-in network gives no DNS: the image's directory stays as it is.
    const ran = env.run(['run', '--net=default', image, '--exec=/bin/sh', '--', '-c', 'test -d /etc/resolv.conf && echo still-a-directory']);
    expect([ran.status, ran.stdout, ran.stderr]).toEqual([0, 'still-a-directory\n', '']);
  }, 120_000);

  it('--mds-register when the network of forwarded ports can give no gateway by its configuration (a bridge without IPAM): refused before any plugin runs', async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    recorder(conf, 'bridge', calls);
    // Masqueraded and first: rkt's network of forwarded ports, ahead of the built-in default.
    writeFileSync(join(conf, 'net.d', '10-l2.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'l2', type: 'bridge', bridge: 'rkt-l2test', ipMasq: true }));
    const mds = await MdsProcess.start(env.tmp);
    try {
      const reservedBefore = lastReserved('default');
      const r = env.run(['run', `--local-config=${conf}`, '--net=default,l2', '--mds-register', `--mds-socket=${mds.socket}`, aci, '--exec=/bin/true']);
      expect([r.status, r.stdout, r.stderr]).toEqual([
        254,
        '',
        "stage1-systemd run: --mds-register: the pod's network of forwarded ports, l2, can give no IPv4 gateway (plugin bridge without IPAM gives the pod no address): the apps would have no address of the host to reach the metadata service at\n",
      ]);
      expect(recorded(calls)).toBe('no call');
      expect(lastReserved('default')).toBe(reservedBefore);
      for (const uuid of env.podUuids()) expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    } finally {
      await mds.stop();
    }
  }, 120_000);

  it("a kill -9 of rkt run while a plugin's ADD runs, then gc at once: the plugin holds the pod's lock, so gc leaves the pod until the ADD is done, and the next gc leaves nothing", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    // ptp, slow in its ADD once it has its configuration and holds the pod's namespace (as every plugin opens
    // it first): what a gc that overtook it had torn down by then (a DEL of nothing, the namespace removed),
    // the ADD would make after it all the same (a lease, masquerading rules). Recorded once it has read its
    // configuration: a kill before rkt had written it would only make the plugin fail.
    writeFileSync(
      join(conf, 'net.d', 'slowptp'),
      `#!/bin/sh\nif [ "$CNI_COMMAND" != ADD ]; then echo "$CNI_COMMAND" >> '${calls}'; exec /usr/lib/cni/ptp; fi\n` +
        `conf=$(cat); cut -d' ' -f4 /proc/$PPID/stat > '${calls}.parent'; echo ADD >> '${calls}'\nexec 4<"$CNI_NETNS"; sleep 4\n` +
        `printf '%s' "$conf" | CNI_NETNS=/proc/self/fd/4 /usr/lib/cni/ptp; rc=$?\necho "ADD done" >> '${calls}'\nexit $rc\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(conf, 'net.d', '10-slow.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'slow', type: 'slowptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.103.0/24' } }));
    const run = env.start(['run', `--local-config=${conf}`, '--net=slow', aci, '--exec=/bin/true']);
    for (let i = 0; i < 400 && recorded(calls) !== 'ADD\n'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(recorded(calls)).toBe('ADD\n');
    const [uuid] = env.podUuids();
    // rkt run runs the stage1 in its own process (the run module), which runs the plugin (under timeout(1), the
    // plugin's parent, which keeps its deadline): the setup dies with it.
    expect(readFileSync(`${calls}.parent`, 'utf8')).toBe(`${run.child.pid}\n`);
    process.kill(run.child.pid!, 'SIGKILL');
    await run.done;
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    // The ADD was still running: the pod is left where it is, running as far as gc can tell.
    expect(recorded(calls)).toBe('ADD\n');
    expect(existsSync(join(env.dataDir, 'pods', 'run', uuid!))).toBe(true);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(true);
    for (let i = 0; i < 600 && !recorded(calls).includes('ADD done'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(recorded(calls)).toBe('ADD\nADD done\n');
    expect(leases('slow', [uuid!])).toHaveLength(1);
    expect(natRules()).toContain(uuid);
    await env.waitState(uuid!, 'exited');
    const after = env.run(['gc', '--grace-period=0s']);
    expect([after.status, after.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([]);
    expect(recorded(calls)).toBe('ADD\nADD done\nDEL\n');
    expect(leases('slow', [uuid!])).toEqual([]);
    expect(natRules()).not.toContain(uuid);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
  }, 120_000);

  it("a test that fails while a slow plugin's ADD runs, or while its pod runs: RktEnv.cleanup() alone (no gc of the test's) leaves no chain, lease, veth or namespace, and the ADD never completes after it", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    // The leases outside the pods' data directories, which cleanup() removes: whether one is left shows.
    const leaseDirOf = join(env.tmp, 'leases');
    const slowLeases = (uuid: string): string[] => {
      const dir = join(leaseDirOf, 'slow');
      return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9.]+$/.test(f) && readFileSync(join(dir, f), 'utf8').startsWith(uuid)) : [];
    };
    // ptp, 4 s slow in its ADD once it has its configuration, recording each call (as the kill -9 test's).
    writeFileSync(
      join(conf, 'net.d', 'slowptp'),
      `#!/bin/sh\nif [ "$CNI_COMMAND" != ADD ]; then echo "$CNI_COMMAND" >> '${calls}'; exec /usr/lib/cni/ptp; fi\n` +
        `conf=$(cat); echo ADD >> '${calls}'\nexec 4<"$CNI_NETNS"; sleep 4\n` +
        `printf '%s' "$conf" | CNI_NETNS=/proc/self/fd/4 /usr/lib/cni/ptp; rc=$?\necho "ADD done" >> '${calls}'\nexit $rc\n`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(conf, 'net.d', '10-slow.conf'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'slow', type: 'slowptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.103.0/24', dataDir: leaseDirOf } }),
    );
    const nothingLeft = (uuid: string): void => {
      expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
      expect(natRules()).not.toContain(uuid);
      expect(slowLeases(uuid)).toEqual([]);
      expect([...veths()].filter((v) => !vethsBefore.has(v))).toEqual([]);
    };

    // 1. Interrupted in the ADD: the test's own clean-up is all that runs.
    const midway = new RktEnv(systemd);
    let uuid: string | undefined;
    try {
      midway.seedStage1();
      const image = await buildBusyboxAci(midway.tmp);
      midway.start(['run', `--local-config=${conf}`, '--net=slow', image, '--exec=/bin/true']);
      for (let i = 0; i < 400 && recorded(calls) !== 'ADD\n'; i++) await new Promise((r) => setTimeout(r, 25));
      expect(recorded(calls)).toBe('ADD\n');
      [uuid] = midway.podUuids();
      expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(true);
    } finally {
      await midway.cleanup();
    }
    nothingLeft(uuid!);
    // Past the plugin's 4 s: it was killed, and made nothing after the clean-up; its network got a DEL.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(recorded(calls)).toBe('ADD\nDEL\n');
    nothingLeft(uuid!);

    // 2. Interrupted while the pod runs, its network set up (masquerading chain, lease, veth, namespace).
    rmSync(calls);
    const running = new RktEnv(systemd);
    try {
      running.seedStage1();
      const image = await buildBusyboxAci(running.tmp);
      running.start(['run', `--local-config=${conf}`, '--net=slow', image, '--exec=/bin/sleep', '--', '1000']);
      ({ uuid } = await running.waitRunning(30_000));
      expect(recorded(calls)).toBe('ADD\nADD done\n');
      expect(natRules()).toContain(uuid);
      expect(slowLeases(uuid!)).toHaveLength(1);
      // slow's and default-restricted's (rkt adds it to a pod of user networks).
      expect([...veths()].filter((v) => !vethsBefore.has(v))).toHaveLength(2);
    } finally {
      await running.cleanup();
    }
    expect(recorded(calls)).toBe('ADD\nADD done\nDEL\n');
    nothingLeft(uuid!);
  }, 120_000);

  /** Whether a process still runs (a zombie has closed its files: it holds no lock). */
  const running = (pid: string): boolean => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0] !== 'Z';
    } catch {
      return false;
    }
  };
  /**
   * A plugin `hanger` in `conf`'s net.d that hangs in its ADD once it has its configuration, with a child of its
   * own (both pids recorded in `started`); its DEL answers at once.
   */
  const writeHanger = (conf: string, started: string): void =>
    writeFileSync(
      join(conf, 'net.d', 'hanger'),
      `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho $$ >> '${started}'\nsleep 1000 & echo $! >> '${started}'\nwait\n`,
      { mode: 0o755 },
    );
  /** The pids a plugin script recorded, one a line. */
  const pidsIn = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

  it('a plugin that hangs in its ADD: past RKT_CNI_ADD_TIMEOUT the pod fails in one line, 254, its process group killed, the network added before it deleted; gc then removes the pod', async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const started = join(env.tmp, 'hang-pids');
    writeHanger(conf, started);
    writeFileSync(join(conf, 'net.d', '10-good.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'good', type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.104.0/24' } }));
    writeFileSync(join(conf, 'net.d', '20-hang.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'hang', type: 'hanger' }));
    const t0 = Date.now();
    const r = env.run(['run', `--local-config=${conf}`, '--net=good,hang', aci, '--exec=/bin/true'], { env: { RKT_CNI_ADD_TIMEOUT: '1s' } });
    expect([r.status, r.stdout, r.stderr]).toEqual([254, '', 'stage1-systemd run: error adding network "hang" (plugin hanger): timed out after 1s\n']);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const [uuid] = env.podUuids();
    expect(pidsIn(started)).toHaveLength(2);
    expect(pidsIn(started).filter(running)).toEqual([]);
    expect(leases('good', [uuid!])).toEqual([]);
    expect(natRules()).not.toContain(uuid);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([]);

    // A deadline that is not a duration refuses the pod in one line before any plugin runs.
    const bad = env.run(['run', `--local-config=${conf}`, '--net=good', aci, '--exec=/bin/true'], { env: { RKT_CNI_ADD_TIMEOUT: 'soon' } });
    expect([bad.status, bad.stderr]).toEqual([254, 'stage1-systemd run: RKT_CNI_ADD_TIMEOUT="soon": not a duration of at least 1ms (like 60s, 500ms or 2m)\n']);
    expect(pidsIn(started)).toHaveLength(2);
    for (const u of env.podUuids()) expect(existsSync(`/run/netns/rkt-${u}`)).toBe(false);
  }, 120_000);

  it("a kill -9 of rkt run while a plugin hangs in its ADD: the plugin's deadline still ends it (timeout(1) outlives the run), and with it the pod's lock, so gc then removes the pod with nothing left", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const started = join(env.tmp, 'hang-pids');
    writeHanger(conf, started);
    writeFileSync(join(conf, 'net.d', '10-good.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'good', type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.106.0/24' } }));
    writeFileSync(join(conf, 'net.d', '20-hang.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'hang', type: 'hanger' }));
    const run = env.start(['run', `--local-config=${conf}`, '--net=good,hang', aci, '--exec=/bin/true'], { env: { RKT_CNI_ADD_TIMEOUT: '3s' } });
    for (let i = 0; i < 400 && pidsIn(started).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(pidsIn(started)).toHaveLength(2);
    const [uuid] = env.podUuids();
    process.kill(run.child.pid!, 'SIGKILL');
    await run.done;
    // Still hanging, holding the pod's lock: gc leaves the pod.
    const early = env.run(['gc', '--grace-period=0s']);
    expect([early.status, early.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([uuid]);
    expect(pidsIn(started).filter(running)).toHaveLength(2);
    for (let i = 0; i < 400 && pidsIn(started).some(running); i++) await new Promise((r) => setTimeout(r, 25));
    expect(pidsIn(started).filter(running)).toEqual([]);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([]);
    expect(leases('good', [uuid!])).toEqual([]);
    expect(natRules()).not.toContain(uuid);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
  }, 120_000);

  it("what a plugin leaves running with the pod's lock (fd 3) is killed with its process group once the call ends: the pod ends, and gc removes it at once", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const left = join(env.tmp, 'left-pids');
    // ptp, leaving a `sleep` behind at each call that keeps what it inherited (fd 3, the pod's lock), not the
    // plugin's stdout and stderr.
    writeFileSync(
      join(conf, 'net.d', 'leaver'),
      `#!/bin/sh\nsleep 1000 >/dev/null 2>&1 </dev/null & echo "$! $(readlink /proc/$!/fd/3)" >> '${left}'\nexec /usr/lib/cni/ptp\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(conf, 'net.d', '10-leave.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'leave', type: 'leaver', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.105.0/24' } }));
    const r = env.run(['run', `--local-config=${conf}`, '--net=leave', aci, '--exec=/bin/true']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const [uuid] = env.podUuids();
    // One at the ADD, one at the DEL (rkt's default-restricted, added after it, is Debian's ptp), each holding
    // the pod directory open (its lock) as its fd 3 while its plugin ran, none left.
    const sleeps = pidsIn(left);
    expect(sleeps).toHaveLength(2);
    for (const l of sleeps) expect(l.split(' ')[1]).toBe(join(env.dataDir, 'pods', 'run', uuid!));
    expect(sleeps.map((l) => l.split(' ')[0]!).filter(running)).toEqual([]);
    expect(env.status(uuid!).state).toBe('exited');
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([]);
    expect(leases('leave', [uuid!])).toEqual([]);
  }, 120_000);

  it("RKT_CNI_CALL_CGROUP=none (a host with no cgroup to use): each plugin call in its process group only, said under --debug; what the plugin leaves in its group with the pod's lock (fd 3) is killed when the call ends, a setsid daemon is not (the fallback's limit)", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const left = join(env.tmp, 'left-pids');
    const seen = join(env.tmp, 'cgroup-seen');
    // ptp, leaving at each call a `sleep` in its process group and one in a session of its own, both keeping
    // what they inherited (fd 3, the pod's lock), not the plugin's stdout and stderr.
    writeFileSync(
      join(conf, 'net.d', 'grouper'),
      `#!/bin/sh\ncat /proc/$$/cgroup >> '${seen}'\nsleep 1000 >/dev/null 2>&1 </dev/null & child=$!\nsetsid sleep 1000 >/dev/null 2>&1 </dev/null &\n` +
        `while [ "$(readlink /proc/$!/exe)" != "$(readlink -f "$(command -v sleep)")" ]; do :; done\necho "$child $! $(readlink /proc/$child/fd/3)" >> '${left}'\nexec /usr/lib/cni/ptp\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(conf, 'net.d', '10-group.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'group', type: 'grouper', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.109.0/24' } }));
    try {
      const r = env.run(['--debug', 'run', `--local-config=${conf}`, '--net=group', aci, '--exec=/bin/true'], { env: { RKT_CNI_CALL_CGROUP: 'none' } });
      expect(r.status).toBe(0);
      const [uuid] = env.podUuids();
      // The ADD and the DEL (the pod's end); default-restricted's ptp too.
      expect(r.stderr.split('\n').filter((l) => l.includes('in a process group of its own only'))).toEqual([
        'stage1-systemd run: networking: plugin grouper in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
        'stage1-systemd run: networking: plugin ptp in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
        'stage1-systemd run: networking: plugin ptp in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
        'stage1-systemd run: networking: plugin grouper in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
      ]);
      // In no call's cgroup, on either hierarchy.
      expect(readFileSync(seen, 'utf8')).not.toContain('rkt-ts-cni');
      const sleeps = pidsIn(left);
      expect(sleeps).toHaveLength(2);
      for (const l of sleeps) expect(l.split(' ')[2]).toBe(join(env.dataDir, 'pods', 'run', uuid!));
      // The group's, killed with it; the daemons, out of its reach, still there.
      expect(sleeps.map((l) => l.split(' ')[0]!).filter(running)).toEqual([]);
      expect(sleeps.map((l) => l.split(' ')[1]!).filter(running)).toHaveLength(2);
      // Without --debug, nothing said.
      const quiet = env.run(['run', `--local-config=${conf}`, '--net=group', aci, '--exec=/bin/true'], { env: { RKT_CNI_CALL_CGROUP: 'none' } });
      expect([quiet.status, quiet.stderr]).toEqual([0, '']);
      // A value that is not a choice refuses the pod in one line before any plugin runs.
      const bad = env.run(['run', `--local-config=${conf}`, '--net=group', aci, '--exec=/bin/true'], { env: { RKT_CNI_CALL_CGROUP: 'freezer' } });
      expect([bad.status, bad.stderr]).toEqual([254, 'stage1-systemd run: RKT_CNI_CALL_CGROUP="freezer": not one of auto, v2, v1, none\n']);
      expect(pidsIn(left)).toHaveLength(4);
    } finally {
      // The daemons hold the pods' locks: killed for gc to collect them.
      for (const l of pidsIn(left)) {
        try {
          process.kill(Number(l.split(' ')[1]), 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  }, 120_000);

  // The call's cgroup on cgroup2 (what rkt run uses on this hybrid host, and all a v2-only host has), and on
  // the v1 freezer (asked for; what an earlier rkt-ts left): gc sweeps either, whatever its own environment says.
  it.each([
    { hierarchy: 'v2', choice: undefined },
    { hierarchy: 'v1', choice: 'v1' },
  ] as const)("a daemon a plugin starts with setsid, holding the pod's lock (fd 3), after a kill -9 of rkt run during that ADD: gc leaves the pod while the ADD runs, then kills the daemon (the call's cgroup, on $hierarchy) and removes the pod with nothing left", async ({ hierarchy, choice }) => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const calls = join(env.tmp, 'plugin-calls');
    const daemon = join(env.tmp, 'daemon-pid');
    // ptp, which in its ADD first starts a daemon in a session of its own (out of the plugin's process group),
    // keeping what it inherited (fd 3, the pod's lock), then is slow, so that the run is killed meanwhile.
    writeFileSync(
      join(conf, 'net.d', 'daemonptp'),
      `#!/bin/sh\nif [ "$CNI_COMMAND" != ADD ]; then echo "$CNI_COMMAND" >> '${calls}'; exec /usr/lib/cni/ptp; fi\n` +
        `conf=$(cat)\nsetsid sleep 1000 >/dev/null 2>&1 </dev/null &\nwhile [ "$(readlink /proc/$!/exe)" != "$(readlink -f "$(command -v sleep)")" ]; do :; done\n` +
        `echo "$! $(cut -d' ' -f6 /proc/$!/stat)" > '${daemon}'; echo ADD >> '${calls}'\nexec 4<"$CNI_NETNS"; sleep 3\n` +
        `printf '%s' "$conf" | CNI_NETNS=/proc/self/fd/4 /usr/lib/cni/ptp; rc=$?\necho "ADD done" >> '${calls}'\nexit $rc\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(conf, 'net.d', '10-daemon.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'daemon', type: 'daemonptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.107.0/24' } }));
    const run = env.start(['run', `--local-config=${conf}`, '--net=daemon', aci, '--exec=/bin/true'], { env: choice !== undefined ? { RKT_CNI_CALL_CGROUP: choice } : {} });
    for (let i = 0; i < 400 && recorded(calls) !== 'ADD\n'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(recorded(calls)).toBe('ADD\n');
    const [uuid] = env.podUuids();
    const [pid, session] = readFileSync(daemon, 'utf8').trim().split(' ');
    // A session of its own: what the process group kill of the call cannot reach.
    expect(session).toBe(pid);
    const hierarchies = callCgroupHierarchies();
    const inHierarchy = (h: 'v2' | 'v1'): string[] => {
      const parent = join(hierarchies[h]!, 'rkt-ts-cni');
      return existsSync(parent) ? readdirSync(parent).filter((n) => n.startsWith(`${uuid}.`)) : [];
    };
    const callCgroups = (): string[] => inHierarchy(hierarchy);
    expect(callCgroups()).toHaveLength(1);
    expect(inHierarchy(hierarchy === 'v2' ? 'v1' : 'v2')).toEqual([]);
    // The daemon is in it.
    expect(readFileSync(join(hierarchies[hierarchy]!, 'rkt-ts-cni', callCgroups()[0]!, 'cgroup.procs'), 'utf8').split('\n')).toContain(pid);
    process.kill(run.child.pid!, 'SIGKILL');
    await run.done;
    // The ADD still runs, holding the pod's lock: gc leaves the pod and the call's cgroup.
    const early = env.run(['gc', '--grace-period=0s']);
    expect([early.status, early.stderr]).toEqual([0, '']);
    expect(env.podUuids()).toEqual([uuid]);
    for (let i = 0; i < 600 && !recorded(calls).includes('ADD done'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(recorded(calls)).toBe('ADD\nADD done\n');
    await new Promise((r) => setTimeout(r, 200));
    // The plugin has exited; the daemon it left holds the pod's lock, in the call's cgroup, which is left.
    expect(running(pid!)).toBe(true);
    expect(readlinkSync(`/proc/${pid}/fd/3`)).toBe(join(env.dataDir, 'pods', 'run', uuid!));
    expect(callCgroups()).toHaveLength(1);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect([gc.status, gc.stderr]).toEqual([0, '']);
    expect(running(pid!)).toBe(false);
    expect(callCgroups()).toEqual([]);
    expect(inHierarchy(hierarchy === 'v2' ? 'v1' : 'v2')).toEqual([]);
    expect(env.podUuids()).toEqual([]);
    expect(recorded(calls)).toBe('ADD\nADD done\nDEL\n');
    expect(leases('daemon', [uuid!])).toEqual([]);
    expect(natRules()).not.toContain(uuid);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
  }, 120_000);

  it("a plugin that leaves a process holding its stdout: the pod starts at once, not at the plugin's deadline, and the process is gone", async () => {
    const conf = join(env.tmp, 'conf');
    mkdirSync(join(conf, 'net.d'), { recursive: true });
    const left = join(env.tmp, 'left-pids');
    writeFileSync(join(conf, 'net.d', 'holdptp'), `#!/bin/sh\nsleep 1000 & echo $! >> '${left}'\nexec /usr/lib/cni/ptp\n`, { mode: 0o755 });
    writeFileSync(join(conf, 'net.d', '10-hold.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'hold', type: 'holdptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.108.0/24' } }));
    const t0 = Date.now();
    const r = env.run(['run', `--local-config=${conf}`, '--net=hold', aci, '--exec=/bin/true'], { env: { RKT_CNI_ADD_TIMEOUT: '60s', RKT_CNI_DEL_TIMEOUT: '60s' } });
    expect([r.status, r.stderr]).toEqual([0, '']);
    // An ADD and a DEL, each of which would have waited for its deadline (60 s) for the end of its stdout.
    expect(Date.now() - t0).toBeLessThan(40_000);
    expect(pidsIn(left)).toHaveLength(2);
    expect(pidsIn(left).filter(running)).toEqual([]);
    const [uuid] = env.podUuids();
    expect(leases('hold', [uuid!])).toEqual([]);
  }, 120_000);

  it("a pod of an earlier version holding a --net=default address in the data directory's networks/ (the old place): a new pod does not draw it; once that lease is gone, nor is it held", async () => {
    const dir = leaseDir('default');
    // host-local's next address on the built-in default (172.16.28.0/24; .1 is the gateway, .254 the last).
    const last = existsSync(join(dir, 'last_reserved_ip.0')) ? Number(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8').split('.')[3]) : 1;
    const next = `172.16.28.${last >= 254 ? 2 : last + 1}`;
    // Free in the new place, so that host-local would hand it out.
    expect(existsSync(join(dir, next))).toBe(false);
    // As an earlier version left it for a live pod: a lease in <data>/networks/default, named by the address.
    const old = join(env.dataDir, 'networks', 'default', next);
    mkdirSync(join(env.dataDir, 'networks', 'default'), { recursive: true });
    writeFileSync(old, `${randomUUID()}\r\neth0`);
    const held = join(dir, next);
    try {
      const ipOf = (uuid: string) => /networks=default:ip4=([0-9.]+)/.exec(env.run(['status', uuid]).stdout)?.[1];
      const first = env.run(['run', '--net=default', aci, '--exec=/bin/true']);
      expect([first.status, first.stderr]).toEqual([0, '']);
      const [ua] = env.podUuids();
      expect(ipOf(ua!)).toMatch(/^172\.16\.28\./);
      expect(ipOf(ua!)).not.toBe(next);
      expect(readFileSync(held, 'utf8')).toBe(`rkt-ts-old-place\r\n${old}`);
      // The old pod torn down (its DEL in the old place): the next pod's setup frees what held its address.
      rmSync(old);
      const second = env.run(['run', '--net=default', aci, '--exec=/bin/true']);
      expect([second.status, second.stderr]).toEqual([0, '']);
      expect(existsSync(held)).toBe(false);
    } finally {
      rmSync(held, { force: true });
    }
  }, 120_000);

  it('pods of two data directories running at once on --net=default draw different addresses from the machine-wide leases, and gc in each releases only its own pod\'s', async () => {
    const other = new RktEnv(systemd);
    try {
      other.seedStage1();
      const otherAci = await buildBusyboxAci(other.tmp);
      const a = env.start(['run', '--net=default', aci, '--exec=/bin/sleep', '--', '1000']);
      const b = other.start(['run', '--net=default', otherAci, '--exec=/bin/sleep', '--', '1000']);
      const [{ uuid: ua }, { uuid: ub }] = await Promise.all([env.waitRunning(), other.waitRunning()]);
      const ipOf = (e: RktEnv, uuid: string) => /networks=default:ip4=([0-9.]+)/.exec(e.run(['status', uuid]).stdout)![1]!;
      const [ipA, ipB] = [ipOf(env, ua), ipOf(other, ub)];
      expect(ipA).not.toBe(ipB);
      expect(leases('default', [ua])).toEqual([ipA]);
      expect(leases('default', [ub])).toEqual([ipB]);
      // Nothing in either data directory's networks/: the built-in's leases are the machine's.
      expect(existsSync(join(env.dataDir, 'networks'))).toBe(false);
      expect(existsSync(join(other.dataDir, 'networks'))).toBe(false);
      // Each pod's stage1 killed (its run's own teardown never comes), then gc in one data directory.
      for (const [e, uuid, child] of [[env, ua, a.child], [other, ub, b.child]] as const) {
        const nspawn = Number(readFileSync(join(e.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8'));
        const stage1 = Number(readFileSync(`/proc/${nspawn}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
        expect(stage1).toBe(child.pid);
        process.kill(stage1, 'SIGKILL');
      }
      await Promise.all([a.done, b.done]);
      await Promise.all([env.waitState(ua, 'exited'), other.waitState(ub, 'exited')]);
      expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
      expect(leases('default', [ua])).toEqual([]);
      expect(leases('default', [ub])).toEqual([ipB]);
      expect(natRules()).not.toContain(ua);
      expect(natRules()).toContain(ub);
      expect(other.run(['gc', '--grace-period=0s']).status).toBe(0);
      expect(leases('default', [ub])).toEqual([]);
      expect(natRules()).not.toContain(ub);
      expect(existsSync(`/run/netns/rkt-${ub}`)).toBe(false);
    } finally {
      for (const c of other.children) c.kill('SIGKILL');
      for (let i = 0; i < 50 && other.podUuids().length > 0; i++) {
        other.run(['gc', '--grace-period=0s']);
        await new Promise((r) => setTimeout(r, 100));
      }
      await other.cleanup();
    }
  }, 120_000);
});

describe('CNI networks (fly)', () => {
  beforeEach(async () => {
    env = new RktEnv(fly);
    aci = await buildBusyboxAci(env.tmp);
    vethsBefore = veths();
  });

  it('are refused in one line naming fly, before any pod is made', () => {
    const r = env.run(['run', '--net=default', aci, '--exec=/bin/echo', '--', 'ran']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'run: --net=default: stage1 coreos.com/rkt/stage1-fly cannot set up CNI networks (its image has no rkt-ts.dev/stage1/cni-networks annotation of version 1); use the systemd stage1\n',
    );
    expect(r.status).toBe(254);
    expect(env.podUuids()).toEqual([]);
  });
});
