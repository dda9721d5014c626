import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_NETS, CALL_CGROUP_ENV, CniError, callCgroupChoice, callCgroupHierarchies, callCgroupParents, killCallCgroup, sweepCallCgroups, formatNets, hasPodNetworks, loadNets, parseNetList, planPodNetworks, pluginTimeouts, readNetInfo, setupPodNetworks, teardownPodNetworks } from '../src/index.js';

// Real plugins (Debian's containernetworking-plugins in /usr/lib/cni) in real network namespaces, on subnets of
// this test's own (10.213.x), which no other test uses.

let tmp: string;
let uuids: string[];
const warnings: string[] = [];

function pod(): { podDir: string; uuid: string } {
  const uuid = randomUUID();
  uuids.push(uuid);
  const podDir = join(tmp, 'pods', uuid);
  mkdirSync(podDir, { recursive: true });
  return { podDir, uuid };
}

function writeNet(file: string, conf: unknown): void {
  mkdirSync(join(tmp, 'conf', 'net.d'), { recursive: true });
  writeFileSync(join(tmp, 'conf', 'net.d', file), typeof conf === 'string' ? conf : JSON.stringify(conf));
}

const leases = (name: string): string[] => {
  const dir = join(tmp, 'networks', name);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9.]+$/.test(f)) : [];
};

beforeEach(() => {
  tmp = mkdtempSync(join(process.env['RKT_TEST_VAR_TMP'] ?? '/var/tmp', 'cni-test-'));
  uuids = [];
  warnings.length = 0;
});

afterEach(() => {
  for (const uuid of uuids) teardownPodNetworks({ podDir: join(tmp, 'pods', uuid), uuid, warn: (l) => warnings.push(l) });
  for (const uuid of uuids) {
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })).not.toContain(uuid);
  }
  rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync('ip', ['link', 'del', 'rkttest213'], { stdio: 'ignore' });
  } catch {
    // Only the bridge test makes it.
  }
});

const ptp = (name: string, subnet: string, extra: Record<string, unknown> = {}) => ({ cniVersion: '0.3.1', name, type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet }, ...extra });

describe('loadNets', () => {
  it("loads rkt's way: lexical order, the first of a name, the built-in default-restricted unless default is asked for", () => {
    writeNet('20-b.conf', ptp('b', '10.213.2.0/24'));
    writeNet('10-a.conf', ptp('a', '10.213.1.0/24'));
    writeNet('30-a.conf', ptp('a', '10.213.3.0/24'));
    writeNet('ignored.json', '{');
    const notes: string[] = [];
    const all = loadNets(join(tmp, 'conf'), parseNetList('all'), (l) => notes.push(l));
    expect(all.map((n) => [n.conf.name, n.fileName])).toEqual([['a', '10-a.conf'], ['b', '20-b.conf'], ['default', '99-default.conf']]);
    expect(notes).toEqual(['"a" network already defined, ignoring 30-a.conf']);
    expect(loadNets(join(tmp, 'conf'), parseNetList('b:IP=10.213.2.9')).map((n) => [n.conf.name, n.args])).toEqual([['b', 'IP=10.213.2.9'], ['default-restricted', '']]);
    // A file named like a built-in overrides it.
    writeNet('05-mydefault.conf', ptp('default', '10.213.5.0/24'));
    expect(loadNets(join(tmp, 'conf'), parseNetList('default')).map((n) => [n.conf.name, n.fileName])).toEqual([['default', '05-mydefault.conf']]);
    expect(() => loadNets(join(tmp, 'conf'), parseNetList('nope,b'))).toThrow(`networks not found in ${join(tmp, 'conf', 'net.d')}: nope`);
  });

  it('refuses a configuration that does not parse, naming the file', () => {
    writeNet('10-bad.conf', '{"name": "bad",');
    expect(() => loadNets(join(tmp, 'conf'), parseNetList('default'))).toThrow(new RegExp(`^error loading ${join(tmp, 'conf', 'net.d', '10-bad.conf')}: `));
    writeNet('10-bad.conf', '{"name": "bad"}');
    expect(() => loadNets(join(tmp, 'conf'), parseNetList('default'))).toThrow(`error loading ${join(tmp, 'conf', 'net.d', '10-bad.conf')}: "type" must be a non-empty string`);
  });
});

describe('planPodNetworks', () => {
  it('tells from the configurations alone, before any plugin runs, whether the pod gets DNS and whether its network of forwarded ports can give a gateway', () => {
    // A plugin of no known kind, beside its configuration: it may answer anything.
    mkdirSync(join(tmp, 'conf', 'net.d'), { recursive: true });
    writeFileSync(join(tmp, 'conf', 'net.d', 'thirdparty'), '#!/bin/sh\n', { mode: 0o755 });
    writeNet('10-plain.conf', ptp('plain', '10.213.70.0/24'));
    writeNet('20-dns.conf', ptp('dns', '10.213.71.0/24', { dns: { nameservers: ['10.213.71.53'] } }));
    writeNet('30-emptydns.conf', ptp('emptydns', '10.213.72.0/24', { dns: { nameservers: [], search: [''] } }));
    writeNet('40-resolv.conf', ptp('resolv', '10.213.73.0/24', { ipam: { type: 'host-local', subnet: '10.213.73.0/24', resolvConf: '/etc/resolv.conf' } }));
    writeNet('50-other.conf', { cniVersion: '0.3.1', name: 'other', type: 'thirdparty', ipMasq: true });
    writeNet('60-l2.conf', { cniVersion: '0.3.1', name: 'l2', type: 'bridge', bridge: 'rkttest214', ipMasq: true });
    writeNet('70-v6.conf', { cniVersion: '0.3.1', name: 'v6', type: 'ptp', ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: 'fd00:213::/64' }]] } });
    const plan = (netList: string) => {
      const p = planPodNetworks({ netList, localConfig: join(tmp, 'conf') });
      return { nets: p.nets.map((n) => n.conf.name), forwardable: p.nets[p.forwardable]!.conf.name, noGateway: p.noGateway, dns: p.dns, dnsNetwork: p.dnsNetwork };
    };
    // rkt's built-ins give neither DNS nor a lack of a gateway.
    expect(plan('default')).toEqual({ nets: ['default'], forwardable: 'default', noGateway: undefined, dns: 'never', dnsNetwork: undefined });
    expect(plan('plain,emptydns')).toEqual({ nets: ['plain', 'emptydns', 'default-restricted'], forwardable: 'plain', noGateway: undefined, dns: 'never', dnsNetwork: undefined });
    expect(plan('plain,dns,other')).toMatchObject({ forwardable: 'plain', dns: 'always', dnsNetwork: 'dns' });
    expect(plan('resolv')).toMatchObject({ dns: 'maybe' });
    expect(plan('other')).toMatchObject({ forwardable: 'other', noGateway: undefined, dns: 'maybe' });
    expect(plan('l2,default')).toMatchObject({ forwardable: 'l2', noGateway: 'plugin bridge without IPAM gives the pod no address', dns: 'never' });
    expect(plan('v6')).toMatchObject({ forwardable: 'v6', noGateway: 'its host-local IPAM has IPv6 subnets only (fd00:213::/64)' });
    // What it cannot load fails here, with nothing made.
    expect(() => plan('nonesuch')).toThrow(`networks not found in ${join(tmp, 'conf', 'net.d')}: nonesuch`);
  });
});

describe('setupPodNetworks and teardownPodNetworks', () => {
  // The built-ins' subnets are the machine's, and integration-tests/pods/cni-net.test.ts's pods may hold their first
  // addresses at the same time (the same address twice is a route that exists): overridden here by networks of this
  // test's own subnets, as a user's files named like them override them.
  beforeEach(() => {
    writeNet('90-default.conf', ptp('default', '10.213.50.0/24'));
    writeNet('91-default-restricted.conf', ptp('default-restricted', '10.214.0.0/16', { ipMasq: false }));
  });

  it('joins the pod to each network (eth0, eth1), saves net-info.json, and tears everything down', async () => {
    writeNet('10-one.conf', ptp('one', '10.213.10.0/24'));
    writeNet('20-two.conf', { cniVersion: '0.4.0', name: 'two', type: 'bridge', bridge: 'rkttest213', isGateway: true, ipam: { type: 'host-local', subnet: '10.213.11.0/24' } });
    const { podDir, uuid } = pod();
    const r = await setupPodNetworks({ podDir, uuid, netList: 'one:IP=10.213.10.77,two', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
    expect(r.netnsPath).toBe(`/run/netns/rkt-${uuid}`);
    expect(readFileSync(join(podDir, 'netns'), 'utf8')).toBe(r.netnsPath);
    const addrs = execFileSync('ip', ['netns', 'exec', `rkt-${uuid}`, 'ip', '-4', '-o', 'addr'], { encoding: 'utf8' });
    expect(addrs).toMatch(/eth0\s+inet 10\.213\.10\.77\/24/);
    expect(addrs).toMatch(/eth1\s+inet 10\.213\.11\.[0-9]+\/24/);
    const nets = readNetInfo(podDir);
    expect(nets.map((n) => [n.netName, n.ifName, n.ip, n.mask, n.args])).toEqual([
      ['one', 'eth0', '10.213.10.77', '255.255.255.0', 'IP=10.213.10.77'],
      ['two', 'eth1', nets[1]!.ip, '255.255.255.0', ''],
      ['default-restricted', 'eth2', nets[2]!.ip, '255.255.0.0', ''],
    ]);
    expect(formatNets(nets)).toBe(`one:ip4=10.213.10.77, two:ip4=${nets[1]!.ip}, default-restricted:ip4=${nets[2]!.ip}`);
    expect(leases('one')).toEqual(['10.213.10.77']);
    expect(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })).toContain(`id: \\"${uuid}\\"`);

    teardownPodNetworks({ podDir, uuid, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(existsSync(r.netnsPath)).toBe(false);
    expect(existsSync(join(podDir, 'netns'))).toBe(false);
    expect(leases('one')).toEqual([]);
    expect(leases('two')).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(uuid);
    // Kept for rkt list and status; the configuration copies are gone (torn down).
    expect(readNetInfo(podDir).map((n) => n.netName)).toEqual(['one', 'two', 'default-restricted']);
    expect(readdirSync(join(podDir, 'net'))).toEqual([]);
  });

  it('tears down a pod whose directory moved since (gc moves it to garbage/ first)', async () => {
    writeNet('10-one.conf', ptp('one', '10.213.30.0/24'));
    const { podDir, uuid } = pod();
    await setupPodNetworks({ podDir, uuid, netList: 'one', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
    expect(leases('one')).toHaveLength(1);
    const moved = join(tmp, 'garbage', uuid);
    mkdirSync(join(tmp, 'garbage'));
    renameSync(podDir, moved);
    teardownPodNetworks({ podDir: moved, uuid, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(leases('one')).toEqual([]);
    expect(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })).not.toContain(uuid);
    expect(readdirSync(join(moved, 'net'))).toEqual([]);
  });

  it('forwards host ports through portmap on the masqueraded network, and removes them in the teardown', async () => {
    writeNet('10-plain.conf', ptp('plain', '10.213.40.0/24', { ipMasq: false }));
    const { podDir, uuid } = pod();
    await setupPodNetworks({
      podDir,
      uuid,
      netList: 'plain,default',
      localConfig: join(tmp, 'conf'),
      ipamDataDir: join(tmp, 'networks'),
      portMappings: [{ hostPort: 28213, containerPort: 80, protocol: 'tcp' }],
    });
    const rules = execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
    const dnat = rules.split('\n').find((l) => l.includes('--dport 28213') && l.includes('DNAT'));
    // On default (eth1, masqueraded), not on plain (eth0).
    expect(dnat).toMatch(new RegExp(`--to-destination ${readNetInfo(podDir)[1]!.ip.replace(/\./g, '\\.')}:80`));
    teardownPodNetworks({ podDir, uuid, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    const after = execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
    expect(after).not.toContain('28213');
    expect(after).not.toContain(uuid);
  });

  it("a plugin that fails ADD: one line naming the network and the plugin's message; what was added is deleted", async () => {
    writeNet('10-good.conf', ptp('good', '10.213.20.0/24'));
    writeNet('20-broken.conf', ptp('broken', 'nonsense'));
    const { podDir, uuid } = pod();
    let err: unknown;
    try {
      await setupPodNetworks({ podDir, uuid, netList: 'good,broken', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as Error).message).toBe('error adding network "broken" (plugin ptp): invalid CIDR address: nonsense');
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(leases('good')).toEqual([]);
    expect(existsSync(join(podDir, 'net-info.json'))).toBe(false);
  });

  it("gives every plugin's ADD and DEL the file description it is given (the pod's lock) as its fd 3; without one, nothing of it", async () => {
    const calls = join(tmp, 'calls');
    mkdirSync(join(tmp, 'conf', 'net.d'), { recursive: true });
    writeFileSync(join(tmp, 'conf', 'net.d', 'recorder'), `#!/bin/sh\necho "$CNI_COMMAND $(readlink /proc/$$/fd/3)" >> '${calls}'\ncat >/dev/null\necho '{"cniVersion":"0.3.1"}'\n`, { mode: 0o755 });
    writeNet('10-rec.conf', { cniVersion: '0.3.1', name: 'rec', type: 'recorder' });
    const lock = join(tmp, 'lock');
    writeFileSync(lock, '');
    const fd = openSync(lock, 'r');
    try {
      const held = pod();
      await setupPodNetworks({ ...held, netList: 'rec', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), holdFd: fd });
      teardownPodNetworks({ ...held, holdFd: fd, warn: (l) => warnings.push(l) });
      const plain = pod();
      await setupPodNetworks({ ...plain, netList: 'rec', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
      teardownPodNetworks({ ...plain, warn: (l) => warnings.push(l) });
    } finally {
      closeSync(fd);
    }
    expect(warnings).toEqual([]);
    // Without it, fd 3 is not the lock (the shell's own pipe for $(...) may take the free number).
    const lines = readFileSync(calls, 'utf8').split('\n');
    expect(lines.slice(0, 2)).toEqual([`ADD ${lock}`, `DEL ${lock}`]);
    expect(lines.slice(2).map((l) => [l.split(' ')[0], l.includes(lock)])).toEqual([['ADD', false], ['DEL', false], ['', false]]);
  });

  /** Whether a process still runs (a zombie has closed its files: it holds no lock). */
  const running = (pid: string): boolean => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0] !== 'Z';
    } catch {
      return false;
    }
  };
  /** The pids a plugin script recorded (`$$`, `$!`), one a line, in a file named after it. */
  const pids = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

  it('an ADD past its deadline: one line naming the network, the plugin and the deadline; its process group killed; what was added is deleted', async () => {
    writeNet('10-good.conf', ptp('good', '10.213.21.0/24'));
    // Hangs in its ADD, with a child of its own (both in the plugin's process group), once it has read its
    // configuration; its DEL answers at once.
    const started = join(tmp, 'hang-pids');
    writeFileSync(
      join(tmp, 'conf', 'net.d', 'hanger'),
      `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho $$ >> '${started}'\nsleep 1000 & echo $! >> '${started}'\nwait\n`,
      { mode: 0o755 },
    );
    writeNet('20-hang.conf', { cniVersion: '0.3.1', name: 'hang', type: 'hanger' });
    const { podDir, uuid } = pod();
    const t0 = Date.now();
    let err: unknown;
    try {
      await setupPodNetworks({ podDir, uuid, netList: 'good,hang', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), timeouts: { add: 700, del: 5000 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as Error).message).toBe('error adding network "hang" (plugin hanger): timed out after 700ms');
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(pids(started)).toHaveLength(2);
    expect(pids(started).filter(running)).toEqual([]);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(leases('good')).toEqual([]);
    expect(existsSync(join(podDir, 'net-info.json'))).toBe(false);
  });

  it('a DEL past its deadline is a warning naming the network; the teardown goes on (the other networks, the namespace)', async () => {
    writeNet('10-good.conf', ptp('good', '10.213.22.0/24'));
    const started = join(tmp, 'hang-pids');
    writeFileSync(
      join(tmp, 'conf', 'net.d', 'delhanger'),
      `#!/bin/sh\ncat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"0.3.1"}'; exit 0; fi\necho $$ >> '${started}'\nexec sleep 1000\n`,
      { mode: 0o755 },
    );
    writeNet('20-delhang.conf', { cniVersion: '0.3.1', name: 'delhang', type: 'delhanger' });
    const { podDir, uuid } = pod();
    await setupPodNetworks({ podDir, uuid, netList: 'good,delhang', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
    expect(leases('good')).toHaveLength(1);
    teardownPodNetworks({ podDir, uuid, timeouts: { add: 60_000, del: 600 }, warn: (l) => warnings.push(l) });
    expect(warnings.splice(0)).toEqual(['error deleting network "delhang": timed out after 600ms']);
    expect(pids(started)).toHaveLength(1);
    expect(pids(started).filter(running)).toEqual([]);
    expect(leases('good')).toEqual([]);
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(hasPodNetworks(podDir)).toBe(false);
  });

  it("what a plugin leaves running in its process group is killed once the call ends: it holds the pod's lock (fd 3) no longer", async () => {
    const left = join(tmp, 'left-pids');
    const lock = join(tmp, 'lock');
    // A daemon that keeps what it inherited (fd 3, the lock) but not the plugin's stdout and stderr.
    writeFileSync(
      join(tmp, 'conf', 'net.d', 'leaver'),
      `#!/bin/sh\ncat >/dev/null\nsleep 1000 >/dev/null 2>&1 </dev/null & echo "$! $(readlink /proc/$!/fd/3)" >> '${left}'\necho '{"cniVersion":"0.3.1"}'\n`,
      { mode: 0o755 },
    );
    writeNet('10-leave.conf', { cniVersion: '0.3.1', name: 'leave', type: 'leaver' });
    writeFileSync(lock, '');
    const fd = openSync(lock, 'r');
    try {
      const held = pod();
      await setupPodNetworks({ ...held, netList: 'leave', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), holdFd: fd });
      const [added] = pids(left);
      // It held the lock as the plugin's child; it is gone with the ADD.
      expect(added!.split(' ')[1]).toBe(lock);
      expect(running(added!.split(' ')[0]!)).toBe(false);
      teardownPodNetworks({ ...held, holdFd: fd, warn: (l) => warnings.push(l) });
    } finally {
      closeSync(fd);
    }
    expect(warnings).toEqual([]);
    expect(pids(left)).toHaveLength(2);
    expect(pids(left).map((l) => l.split(' ')[0]!).filter(running)).toEqual([]);
  });

  /** The plugin calls' cgroups of a pod (CNI_CONTAINERID is its UUID) still there, in either hierarchy. */
  const callCgroups = (uuid: string): string[] => callCgroupParents().flatMap((p) => (existsSync(p) ? readdirSync(p).filter((n) => n.startsWith(`${uuid}.`)) : []));
  /** Runs `body` with RKT_CNI_CALL_CGROUP set to `value` (unset for undefined), as the stage1 inherits it. */
  async function withCallCgroup<T>(value: string | undefined, body: () => Promise<T>): Promise<T> {
    const before = process.env[CALL_CGROUP_ENV];
    if (value === undefined) delete process.env[CALL_CGROUP_ENV];
    else process.env[CALL_CGROUP_ENV] = value;
    try {
      return await body();
    } finally {
      if (before === undefined) delete process.env[CALL_CGROUP_ENV];
      else process.env[CALL_CGROUP_ENV] = before;
    }
  }
  /** A plugin's cgroups as it saw them (/proc/self/cgroup): `v2` the cgroup2 line's path, `freezer` the v1 freezer's. */
  const cgroupsSeen = (text: string): { v2: string | undefined; freezer: string | undefined } => ({
    v2: /^0::(.*)$/m.exec(text)?.[1],
    freezer: /^[0-9]+:freezer:(.*)$/m.exec(text)?.[1],
  });

  // Unset (auto) prefers v2 on this hybrid host; v1 is the freezer, asked for.
  it.each([
    { label: 'unset', choice: undefined, hierarchy: 'v2' },
    { label: 'v2', choice: 'v2', hierarchy: 'v2' },
    { label: 'v1', choice: 'v1', hierarchy: 'v1' },
  ] as const)(
    "RKT_CNI_CALL_CGROUP $label: a daemon a plugin starts with setsid(1), out of its process group, dies with the call (its cgroup, on $hierarchy): it holds the pod's lock (fd 3) no longer, and no cgroup of the call is left",
    async ({ choice, hierarchy }) => {
      const left = join(tmp, 'left-pids');
      const seen = join(tmp, 'cgroup-seen');
      const lock = join(tmp, 'lock');
      // The daemon in a session of its own, keeping what it inherited (fd 3, the lock), none of the plugin's stdio.
      writeFileSync(
        join(tmp, 'conf', 'net.d', 'daemonizer'),
        `#!/bin/sh\ncat >/dev/null\ncat /proc/$$/cgroup > '${seen}'\nsetsid sleep 1000 >/dev/null 2>&1 </dev/null &\nwhile [ "$(readlink /proc/$!/exe)" != "$(readlink -f "$(command -v sleep)")" ]; do :; done\necho "$$ $! $(cut -d' ' -f6 /proc/$!/stat) $(readlink /proc/$!/fd/3)" >> '${left}'\necho '{"cniVersion":"0.3.1"}'\n`,
        { mode: 0o755 },
      );
      writeNet('10-daemon.conf', { cniVersion: '0.3.1', name: 'daemon', type: 'daemonizer' });
      writeFileSync(lock, '');
      const fd = openSync(lock, 'r');
      const notes: string[] = [];
      try {
        await withCallCgroup(choice, async () => {
          const held = pod();
          await setupPodNetworks({ ...held, netList: 'daemon', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), holdFd: fd, note: (l) => notes.push(l) });
          const [plugin, daemon, session, heldLock] = pids(left)[0]!.split(' ');
          // Out of the plugin's process group and session: a session of its own, which a group kill misses.
          expect(session).toBe(daemon);
          expect(heldLock).toBe(lock);
          expect(running(daemon!)).toBe(false);
          // The ADD ran in a cgroup of the call's own, on the hierarchy asked for, and only there.
          const { v2, freezer } = cgroupsSeen(readFileSync(seen, 'utf8'));
          const ours = new RegExp(`^/rkt-ts-cni/${held.uuid}\\.${process.pid}\\.[0-9]+\\.[0-9]+$`);
          expect(hierarchy === 'v2' ? v2 : freezer).toMatch(ours);
          expect(hierarchy === 'v2' ? freezer : v2).not.toMatch(/rkt-ts-cni/);
          expect(callCgroups(held.uuid)).toEqual([]);
          teardownPodNetworks({ ...held, holdFd: fd, warn: (l) => warnings.push(l), note: (l) => notes.push(l) });
          expect(plugin).not.toBe(daemon);
          expect(callCgroups(held.uuid)).toEqual([]);
        });
      } finally {
        closeSync(fd);
      }
      expect(warnings).toEqual([]);
      expect(notes.filter((l) => l.includes('process group'))).toEqual([]);
      expect(pids(left)).toHaveLength(2);
      expect(pids(left).map((l) => l.split(' ')[1]!).filter(running)).toEqual([]);
    },
  );

  it("RKT_CNI_CALL_CGROUP=none: the call in its process group only, said in a note; what stays in the group is killed when the call ends, a setsid daemon escapes (the fallback's limit)", async () => {
    const left = join(tmp, 'left-pids');
    const seen = join(tmp, 'cgroup-seen');
    // A child in the plugin's group, holding fd 3, and a daemon in a session of its own.
    writeFileSync(
      join(tmp, 'conf', 'net.d', 'grouper'),
      `#!/bin/sh\ncat >/dev/null\ncat /proc/$$/cgroup > '${seen}'\nsleep 1000 >/dev/null 2>&1 </dev/null & child=$!\nsetsid sleep 1000 >/dev/null 2>&1 </dev/null &\nwhile [ "$(readlink /proc/$!/exe)" != "$(readlink -f "$(command -v sleep)")" ]; do :; done\necho "$child $!" >> '${left}'\necho '{"cniVersion":"0.3.1"}'\n`,
      { mode: 0o755 },
    );
    writeNet('10-group.conf', { cniVersion: '0.3.1', name: 'group', type: 'grouper' });
    const notes: string[] = [];
    try {
      await withCallCgroup('none', async () => {
        const held = pod();
        await setupPodNetworks({ ...held, netList: 'group', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), note: (l) => notes.push(l) });
        const [child, daemon] = pids(left)[0]!.split(' ');
        // The group's: killed once the call ended; the daemon's session is out of its reach.
        expect(running(child!)).toBe(false);
        expect(running(daemon!)).toBe(true);
        // No call cgroup, on either hierarchy.
        const { v2, freezer } = cgroupsSeen(readFileSync(seen, 'utf8'));
        expect([v2, freezer]).toEqual([expect.not.stringContaining('rkt-ts-cni'), expect.not.stringContaining('rkt-ts-cni')]);
        expect(callCgroups(held.uuid)).toEqual([]);
        teardownPodNetworks({ ...held, warn: (l) => warnings.push(l), note: (l) => notes.push(l) });
      });
      expect(warnings).toEqual([]);
      // Its ADD and DEL (and default-restricted's ptp, rkt's network added after it).
      expect(notes.filter((l) => l.startsWith('plugin grouper '))).toEqual([
        'plugin grouper in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
        'plugin grouper in a process group of its own only: RKT_CNI_CALL_CGROUP=none',
      ]);
      expect(pids(left)).toHaveLength(2);
      expect(pids(left).map((l) => l.split(' ')[0]!).filter(running)).toEqual([]);
    } finally {
      for (const l of pids(left)) {
        try {
          process.kill(Number(l.split(' ')[1]), 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  });

  it('reads RKT_CNI_CALL_CGROUP (auto, v2, v1, none); another value is one line naming it, refusing the pod before any plugin runs, and a teardown before any DEL', async () => {
    expect(callCgroupChoice({})).toBe('auto');
    expect(callCgroupChoice({ RKT_CNI_CALL_CGROUP: '' })).toBe('auto');
    for (const c of ['auto', 'v2', 'v1', 'none'] as const) expect(callCgroupChoice({ RKT_CNI_CALL_CGROUP: c })).toBe(c);
    expect(() => callCgroupChoice({ RKT_CNI_CALL_CGROUP: 'v3' })).toThrow(new CniError('CNI_CONFIG', 'RKT_CNI_CALL_CGROUP="v3": not one of auto, v2, v1, none'));
    writeNet('10-one.conf', ptp('one', '10.213.10.0/24'));
    const held = pod();
    await withCallCgroup('freezer', async () => {
      expect(() => planPodNetworks({ netList: 'one', localConfig: join(tmp, 'conf') })).toThrow('RKT_CNI_CALL_CGROUP="freezer": not one of auto, v2, v1, none');
      await expect(setupPodNetworks({ ...held, netList: 'one', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') })).rejects.toThrow('RKT_CNI_CALL_CGROUP="freezer": not one of auto, v2, v1, none');
    });
    expect(existsSync(`/run/netns/rkt-${held.uuid}`)).toBe(false);
    await setupPodNetworks({ ...held, netList: 'one', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') });
    expect(leases('one')).toHaveLength(1);
    await withCallCgroup('freezer', async () => {
      expect(() => teardownPodNetworks({ ...held, warn: (l) => warnings.push(l) })).toThrow('RKT_CNI_CALL_CGROUP="freezer": not one of auto, v2, v1, none');
    });
    // Nothing of it torn down: the next teardown (afterEach's) finds it all.
    expect(existsSync(`/run/netns/rkt-${held.uuid}`)).toBe(true);
    expect(leases('one')).toHaveLength(1);
    expect(hasPodNetworks(held.podDir)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("a process left holding the plugin's stdout and stderr does not hold the call: it ends when the plugin exits, with the plugin's result", async () => {
    const left = join(tmp, 'left-pids');
    writeFileSync(
      join(tmp, 'conf', 'net.d', 'holder'),
      `#!/bin/sh\ncat >/dev/null\nsleep 1000 &\necho $! >> '${left}'\necho '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.213.31.5/24","gateway":"10.213.31.1"}]}'\n`,
      { mode: 0o755 },
    );
    writeNet('10-hold.conf', { cniVersion: '0.3.1', name: 'hold', type: 'holder' });
    const held = pod();
    const t0 = Date.now();
    const r = await setupPodNetworks({ ...held, netList: 'hold', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), timeouts: { add: 30_000, del: 30_000 } });
    // Well before the deadline: the call did not wait for the end of the output.
    expect(Date.now() - t0).toBeLessThan(10_000);
    // (rkt's default-restricted after it.)
    expect(r.nets.map((n) => [n.netName, n.ip, n.mask])[0]).toEqual(['hold', '10.213.31.5', '255.255.255.0']);
    expect(pids(left).filter(running)).toEqual([]);
    const t1 = Date.now();
    teardownPodNetworks({ ...held, timeouts: { add: 30_000, del: 30_000 }, warn: (l) => warnings.push(l) });
    expect(Date.now() - t1).toBeLessThan(10_000);
    expect(warnings).toEqual([]);
    expect(pids(left)).toHaveLength(2);
    expect(pids(left).filter(running)).toEqual([]);
    expect(callCgroups(held.uuid)).toEqual([]);
  });

  it('reads the deadlines from RKT_CNI_ADD_TIMEOUT and RKT_CNI_DEL_TIMEOUT; one that is not a duration is one line naming it', () => {
    expect(pluginTimeouts({})).toEqual({ add: 60_000, del: 10_000 });
    expect(pluginTimeouts({ RKT_CNI_ADD_TIMEOUT: '90s', RKT_CNI_DEL_TIMEOUT: '500ms' })).toEqual({ add: 90_000, del: 500 });
    expect(pluginTimeouts({ RKT_CNI_ADD_TIMEOUT: '2m', RKT_CNI_DEL_TIMEOUT: '1.5s' })).toEqual({ add: 120_000, del: 1500 });
    expect(pluginTimeouts({ RKT_CNI_ADD_TIMEOUT: '' })).toEqual({ add: 60_000, del: 10_000 });
    for (const bad of ['60', '0s', '-1s', 'soon', '1h', ' 5s']) {
      expect(() => pluginTimeouts({ RKT_CNI_DEL_TIMEOUT: bad })).toThrow(`RKT_CNI_DEL_TIMEOUT=${JSON.stringify(bad)}: not a duration of at least 1ms (like 60s, 500ms or 2m)`);
    }
  });

  it('a plugin that cannot be run: one line naming the network, the plugin and why; nothing is left', async () => {
    mkdirSync(join(tmp, 'conf', 'net.d'), { recursive: true });
    const plugin = join(tmp, 'conf', 'net.d', 'noexec');
    writeFileSync(plugin, '#!/bin/sh\n', { mode: 0o644 });
    writeNet('10-noexec.conf', { cniVersion: '0.3.1', name: 'noexec', type: 'noexec' });
    const { podDir, uuid } = pod();
    await expect(setupPodNetworks({ podDir, uuid, netList: 'noexec', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') })).rejects.toThrow(
      new CniError('CNI_PLUGIN', `error adding network "noexec" (plugin noexec): plugin ${plugin}: Permission denied`),
    );
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
    expect(existsSync(join(podDir, 'net-info.json'))).toBe(false);
  });

  it('a plugin that is not there fails before anything is made', async () => {
    writeNet('10-x.conf', { cniVersion: '0.3.1', name: 'x', type: 'no-such-plugin' });
    const { podDir, uuid } = pod();
    await expect(setupPodNetworks({ podDir, uuid, netList: 'x', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks') })).rejects.toThrow(
      `network "x": could not find plugin "no-such-plugin" in ${join(tmp, 'conf', 'net.d')}:/usr/lib/rkt/plugins/net:/usr/lib/cni`,
    );
    expect(existsSync(`/run/netns/rkt-${uuid}`)).toBe(false);
  });
});

describe("the plugin calls' cgroups", () => {
  /** A process started in `cgroup` (it moves itself in, then runs `command`); resolves with its pid once it is in. */
  async function startIn(cgroup: string, command: string): Promise<number> {
    const child = spawn('sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec ${command}`, cgroup], { detached: true, stdio: 'ignore' });
    child.unref();
    for (let i = 0; i < 200 && !readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').includes(String(child.pid)); i++) await new Promise((r) => setTimeout(r, 10));
    // Its command, not the shell, by now.
    for (let i = 0; i < 200 && readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').startsWith('sh\0'); i++) await new Promise((r) => setTimeout(r, 10));
    return child.pid!;
  }
  const alive = (pid: number): boolean => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0] !== 'Z';
    } catch {
      return false;
    }
  };

  it('finds the hierarchies in mountinfo: cgroup2 at /sys/fs/cgroup on a v2-only host, at /sys/fs/cgroup/unified on a hybrid one, and the v1 freezer', () => {
    const v2Only = '25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
    expect(callCgroupHierarchies(v2Only)).toEqual({ v2: '/sys/fs/cgroup' });
    const hybrid = [
      '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices',
      '36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime shared:9 - cgroup cgroup rw,freezer',
      '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '41 30 0:37 / /mnt/a\\040b rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(callCgroupHierarchies(hybrid)).toEqual({ v2: '/sys/fs/cgroup/unified', v1: '/sys/fs/cgroup/freezer' });
    expect(callCgroupHierarchies('')).toEqual({});
    // This host's, as the calls use them (hybrid: both).
    expect(callCgroupParents()).toEqual([join(callCgroupHierarchies().v2!, 'rkt-ts-cni'), join(callCgroupHierarchies().v1!, 'rkt-ts-cni')]);
  });

  it.each(['v2', 'v1'] as const)("on %s, a sweep kills and removes a call's cgroup whose caller is gone and whose plugin has exited, and leaves one whose plugin still runs (timeout(1)) and one whose caller lives", async (hierarchy) => {
    const mount = callCgroupHierarchies()[hierarchy];
    expect(mount).toBeDefined();
    const parent = join(mount!, 'rkt-ts-cni');
    const uuid = randomUUID();
    const self = readFileSync('/proc/self/stat', 'utf8');
    const start = self.slice(self.lastIndexOf(')') + 2).split(' ')[19]!;
    mkdirSync(parent, { recursive: true });
    // This process's pid with another start time: a caller that is gone (its pid taken by another since).
    const ended = join(parent, `${uuid}.${process.pid}.1.1`);
    const stillRunning = join(parent, `${uuid}.${process.pid}.1.2`);
    const ours = join(parent, `${uuid}.${process.pid}.${start}.3`);
    for (const c of [ended, stillRunning, ours]) mkdirSync(c);
    try {
      const daemon = await startIn(ended, 'sleep 1000');
      const plugin = await startIn(stillRunning, 'timeout --signal=KILL 60s sleep 1000');
      const callers = await startIn(ours, 'sleep 1000');
      const { swept } = sweepCallCgroups();
      expect(swept).toContain(ended);
      expect(swept).not.toContain(stillRunning);
      expect(swept).not.toContain(ours);
      expect(existsSync(ended)).toBe(false);
      expect(alive(daemon)).toBe(false);
      expect(alive(plugin)).toBe(true);
      expect(alive(callers)).toBe(true);
      // What a call does when it ends: everything in its cgroup killed, the cgroup removed.
      expect(killCallCgroup(stillRunning)).toEqual([]);
      expect(killCallCgroup(ours)).toEqual([]);
      expect(alive(plugin)).toBe(false);
      expect(alive(callers)).toBe(false);
      expect(readdirSync(parent).filter((n) => n.startsWith(`${uuid}.`))).toEqual([]);
    } finally {
      for (const c of [ended, stillRunning, ours]) if (existsSync(c)) killCallCgroup(c);
    }
  });
});

describe('on-disk compatibility', () => {
  it("tears down a pod that an earlier version set up with its built-in network's lease in the data directory's networks/ (as its saved copy says), leaving another pod's", () => {
    // What such a version left after a kill: the copy of default-restricted naming <data>/networks, net-info.json,
    // netns, and host-local's leases there (the file named by the address: the container's ID and interface).
    const { podDir, uuid } = pod();
    const old = join(tmp, 'networks');
    mkdirSync(join(old, 'default-restricted'), { recursive: true });
    writeFileSync(join(old, 'default-restricted', '172.17.0.9'), `${uuid}\r\neth0`);
    writeFileSync(join(old, 'default-restricted', '172.17.0.10'), `${randomUUID()}\r\neth0`);
    mkdirSync(join(podDir, 'net'));
    const builtin = BUILTIN_NETS['default-restricted'];
    const copy = join(podDir, 'net', '99-default-restricted.conf');
    writeFileSync(copy, JSON.stringify({ ...builtin, ipam: { ...builtin.ipam, dataDir: old } }));
    writeFileSync(join(podDir, 'net-info.json'), JSON.stringify([{ netName: 'default-restricted', netConf: copy, pluginPath: '/usr/lib/cni/ptp', ifName: 'eth0', ip: '172.17.0.9', args: '', mask: '255.255.0.0', cniPath: '/usr/lib/cni' }]));
    writeFileSync(join(podDir, 'netns'), `/run/netns/rkt-${uuid}`);
    expect(hasPodNetworks(podDir)).toBe(true);
    teardownPodNetworks({ podDir, uuid, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(leases('default-restricted')).toEqual(['172.17.0.10']);
    expect(existsSync(copy)).toBe(false);
    expect(hasPodNetworks(podDir)).toBe(false);
  });
});

describe('leases an earlier version left in the old place', () => {
  it("a built-in network's ADD does not draw an address that a pod of an earlier version still holds in the data directory's networks/; once that pod is torn down, the address is free again", async () => {
    // The built-in default-restricted (172.17.0.0/16, the machine's) with its machine-wide leases in a directory
    // of this test's own, where host-local's next address is 172.17.213.11: far from the first addresses the
    // pods of integration-tests/pods/cni-net.test.ts draw from /run/rkt/networks.
    const run = join(tmp, 'run-networks');
    mkdirSync(join(run, 'default-restricted'), { recursive: true });
    writeFileSync(join(run, 'default-restricted', 'last_reserved_ip.0'), '172.17.213.10');
    // As an earlier version left it for a live pod: its lease in <data>/networks/, named by the address.
    const oldLease = join(tmp, 'networks', 'default-restricted', '172.17.213.11');
    mkdirSync(join(tmp, 'networks', 'default-restricted'), { recursive: true });
    writeFileSync(oldLease, `${randomUUID()}\r\neth0`);
    const setup = async () => {
      const p = pod();
      await setupPodNetworks({ ...p, netList: 'default-restricted', localConfig: join(tmp, 'conf'), ipamDataDir: join(tmp, 'networks'), builtinIpamDataDir: run });
      return { ...p, ip: readNetInfo(p.podDir)[0]!.ip };
    };
    const a = await setup();
    expect(a.ip).toBe('172.17.213.12');
    // Held in the new place for as long as the old lease is there, with what holds it.
    expect(readFileSync(join(run, 'default-restricted', '172.17.213.11'), 'utf8')).toBe(`rkt-ts-old-place\r\n${oldLease}`);
    teardownPodNetworks({ ...a, warn: (l) => warnings.push(l) });
    // The old pod's teardown (its DEL in the old place) frees its lease; the next setup frees what held it.
    rmSync(oldLease);
    writeFileSync(join(run, 'default-restricted', 'last_reserved_ip.0'), '172.17.213.10');
    const b = await setup();
    expect(b.ip).toBe('172.17.213.11');
    teardownPodNetworks({ ...b, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(readdirSync(join(run, 'default-restricted')).filter((f) => /^[0-9.]+$/.test(f))).toEqual([]);
  });
});

describe('a setup killed part way', () => {
  // The package as built (`npm run build`): the setup runs in a process of its own, under strace, which kills it
  // (SIGKILL) at its K-th write, for K = 1, 2... until one run gets through all of them.
  const built = join(import.meta.dirname, '..', 'dist', 'index.js');

  /** Waits until no process of the group is left (a plugin the killed setup was running finishes on its own). */
  async function groupGone(pgid: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(-pgid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`process group ${pgid} still running`);
  }

  /**
   * Waits until no plugin of the pod is left: each runs in a session of its own (execPlugin), out of the
   * setup's group, and one the killed setup was running finishes on its own (a pod's lock keeps gc off it).
   */
  async function pluginsGone(uuid: string): Promise<void> {
    const mark = `CNI_CONTAINERID=${uuid}`;
    const left = (): string[] =>
      readdirSync('/proc').filter((p) => {
        if (!/^[0-9]+$/.test(p)) return false;
        try {
          return readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(mark) && !readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 200; i++) {
      if (left().length === 0) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`plugins of ${uuid} still running: ${left().join(', ')}`);
  }

  it.skipIf(spawnSync('strace', ['-V']).status !== 0)(
    'at any of its writes, leaves a pod directory whose teardown, as gc runs it (hasPodNetworks), removes the namespace, the leases and the rules',
    async () => {
      // CNI 1.0.0: the copy is written again with the ADD's result (prevResult) after the plugin allocated.
      writeNet('10-crash.conf', { cniVersion: '1.0.0', name: 'crash', type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.213.60.0/24' } });
      // In place of the built-in default-restricted a pod is also given, whose subnet is the machine's (see above).
      writeNet('91-default-restricted.conf', ptp('default-restricted', '10.215.0.0/16', { ipMasq: false }));
      const script = join(tmp, 'setup.mjs');
      writeFileSync(
        script,
        `import { setupPodNetworks } from ${JSON.stringify(built)};\n` +
          `const [podDir, uuid, localConfig, ipamDataDir] = process.argv.slice(2);\n` +
          `await setupPodNetworks({ podDir, uuid, netList: 'crash', localConfig, ipamDataDir, portMappings: [{ hostPort: 28214, containerPort: 80, protocol: 'tcp' }] });\n`,
      );
      let k = 1;
      for (; k < 100; k++) {
        const { podDir, uuid } = pod();
        // setsid: strace, the setup and its plugins in a process group of their own, waited for as a whole.
        const child = spawn('setsid', ['strace', '-o', '/dev/null', '-e', 'trace=write,pwrite64,writev', '-e', `inject=write,pwrite64,writev:signal=KILL:when=${k}`, process.execPath, script, podDir, uuid, join(tmp, 'conf'), join(tmp, 'networks')], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
        await groupGone(child.pid!);
        await pluginsGone(uuid);
        if (hasPodNetworks(podDir)) teardownPodNetworks({ podDir, uuid, warn: (l) => warnings.push(`K=${k}: ${l}`) });
        const left = [
          ...(existsSync(`/run/netns/rkt-${uuid}`) ? ['the namespace'] : []),
          ...leases('crash').map((l) => `the lease of ${l}`),
          ...(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' }).includes(uuid) ? ['iptables rules'] : []),
        ];
        expect({ k, left, warnings }).toEqual({ k, left: [], warnings: [] });
        if (code === 0) break;
        // Killed (strace dies of its tracee's signal), not failed.
        expect({ k, code, signal, stderr }).toEqual({ k, code: null, signal: 'SIGKILL', stderr: '' });
      }
      // Killed at every write before the one run that got through: the namespace, the copies, net-info.json, portmap's.
      expect(k).toBeGreaterThan(6);
      expect(k).toBeLessThan(100);
    },
    120_000,
  );
});
