import { describe, expect, it } from 'vitest';
import { appDirectives, appIsolation, DEFAULT_CAPABILITIES, DEFAULT_SECCOMP_RETAIN, IsolatorError, quantityMilli, type IsolationHost, type Isolator } from '../src/isolators.js';
import { insecureIsolation, PodIsolation } from '../src/pod-isolation.js';
import { CAPABILITIES } from '../src/isolators.js';

const SECURE = { capabilities: false, paths: false, seccomp: false };
const INSECURE = { capabilities: true, paths: true, seccomp: true };
const HOST: IsolationHost = { controllers: new Set(['memory', 'cpu']), boundingSet: new Set(CAPABILITIES) };

function directives(isolators: Isolator[], o: { uid?: number; insecure?: typeof SECURE; host?: IsolationHost } = {}): string[] {
  return appDirectives(appIsolation('app', isolators, o.insecure ?? INSECURE, o.host ?? HOST), o.uid ?? 0);
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(IsolatorError);
    return (err as Error).message;
  }
  throw new Error('expected an IsolatorError');
}

describe('resource quantities', () => {
  it('reads appc quantities in thousandths', () => {
    expect(quantityMilli('500m')).toBe(500);
    expect(quantityMilli('1')).toBe(1000);
    expect(quantityMilli('1.5')).toBe(1500);
    expect(quantityMilli('512M')).toBe(512e6 * 1000);
    expect(quantityMilli('1Gi')).toBe(2 ** 30 * 1000);
    expect(quantityMilli('2e3')).toBe(2e6);
    expect(quantityMilli(4)).toBe(4000);
    for (const bad of ['', 'M', '12 M', '1.2.3', '-1', '5X', '1mi']) expect(quantityMilli(bad)).toBeUndefined();
  });
});

describe('isolators as unit directives', () => {
  it('maps resource limits to the cgroup directives', () => {
    expect(
      directives([
        { name: 'resource/memory', value: { limit: '512M' } },
        { name: 'resource/cpu', value: { request: '250m', limit: '1500m' } },
        { name: 'os/linux/cpu-shares', value: 512 },
        { name: 'os/linux/oom-score-adj', value: -500 },
      ]),
    ).toEqual(['MemoryLimit=512000000', 'CPUQuota=150%', 'CPUShares=512', 'OOMScoreAdjust=-500']);
  });

  it('keeps CAP_SYS_RESOURCE for the pod when an app lowers its OOM score, and refuses that where the host cannot give it', () => {
    const oom = (value: number, host = HOST) => appIsolation('app', [{ name: 'os/linux/oom-score-adj', value }], INSECURE, host);
    expect(oom(-500).nspawnCapabilities).toEqual(['CAP_SYS_RESOURCE']);
    expect(oom(300).nspawnCapabilities).toEqual([]);
    const host = { ...HOST, boundingSet: new Set(CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE')) };
    expect(oom(300, host).directives).toEqual(['OOMScoreAdjust=300']);
    expect(refusal(() => oom(-500, host))).toBe("app app: isolator os/linux/oom-score-adj: -500 needs CAP_SYS_RESOURCE, which the host's bounding set does not have");
  });

  it('lets a later isolator of a name override an earlier one (the pod manifest over the image)', () => {
    expect(directives([{ name: 'resource/memory', value: { limit: '1G' } }, { name: 'resource/memory', value: { limit: '64Mi' } }])).toEqual([
      `MemoryLimit=${64 * 2 ** 20}`,
    ]);
  });

  it("bounds an app by rkt's 14 default capabilities, none of them ambient for a non-root app", () => {
    const d = directives([], { uid: 1000, insecure: { ...INSECURE, capabilities: false } });
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(d).toEqual([`CapabilityBoundingSet=${DEFAULT_CAPABILITIES.join(' ')}`]);
    const removed = directives([{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_NET_RAW'] } }], { uid: 1000 });
    expect(removed).toEqual([`CapabilityBoundingSet=${DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW').join(' ')}`]);
  });

  it('makes a retain-set ambient for a non-root app, and only a retain-set', () => {
    const retain = [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } }];
    expect(directives(retain, { uid: 1000 })).toEqual([
      'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    ]);
    expect(directives(retain)).toEqual(['CapabilityBoundingSet=CAP_NET_BIND_SERVICE']);
  });

  it('keeps exactly a retain-set, and removes a remove-set from the default set', () => {
    expect(directives([{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_RAW', 'kill'] } }])).toEqual([
      'CapabilityBoundingSet=CAP_NET_RAW CAP_KILL',
    ]);
    const removed = directives([{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_NET_RAW'] } }]);
    expect(removed).toEqual([`CapabilityBoundingSet=${DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW').join(' ')}`]);
  });

  it('asks nspawn for a retained capability outside its own default set', () => {
    const iso = appIsolation('app', [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN', 'CAP_CHOWN'] } }], INSECURE, HOST);
    expect(iso.nspawnCapabilities).toEqual(['CAP_NET_ADMIN']);
  });

  it('refuses a capability the host cannot give, and an unknown one', () => {
    const host = { ...HOST, boundingSet: new Set(CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE')) };
    expect(refusal(() => directives([{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_SYS_RESOURCE'] } }], { host }))).toBe(
      "app app: capability CAP_SYS_RESOURCE cannot be given: the host's bounding set does not have it",
    );
    expect(refusal(() => directives([{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_FLY'] } }]))).toContain('unknown capability "CAP_FLY"');
  });

  it('writes seccomp sets with their errno, and the default filter when none is given', () => {
    expect(directives([{ name: 'os/linux/seccomp-remove-set', value: { set: ['chmod', 'fchmodat'], errno: 'ENOTSUP' } }])).toEqual([
      'SystemCallErrorNumber=ENOTSUP',
      'SystemCallFilter=~chmod fchmodat',
    ]);
    expect(directives([{ name: 'os/linux/seccomp-retain-set', value: { set: ['@systemd/basic-io', 'execve'] } }])).toEqual([
      'SystemCallFilter=@basic-io execve',
    ]);
    expect(directives([{ name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } }], { insecure: SECURE }).some((l) => l.startsWith('SystemCallFilter'))).toBe(false);
    const byDefault = directives([], { insecure: { ...INSECURE, seccomp: false } });
    expect(byDefault.join(' ').replace(/SystemCallFilter=/g, '').split(' ')).toEqual([...DEFAULT_SECCOMP_RETAIN]);
  });

  it('refuses unknown syscalls and errno names rather than letting systemd drop them', () => {
    expect(refusal(() => directives([{ name: 'os/linux/seccomp-remove-set', value: { set: ['chmdo'] } }]))).toBe(
      'app app: isolator os/linux/seccomp-remove-set: unknown syscall "chmdo"',
    );
    expect(refusal(() => directives([{ name: 'os/linux/seccomp-remove-set', value: { set: ['chmod'], errno: 'ENOPE' } }]))).toContain('unknown errno "ENOPE"');
  });

  it("masks rkt's paths of /proc and /sys unless told not to", () => {
    const d = directives([], { insecure: { ...INSECURE, paths: false } });
    expect(d[0]).toMatch(/^ReadOnlyPaths=.*-\+\/proc\/sysrq-trigger /);
    expect(d[1]).toMatch(/^InaccessiblePaths=.*-\+\/proc\/kcore /);
    expect(directives([])).toEqual([]);
  });

  it('sets no-new-privileges when asked', () => {
    expect(directives([{ name: 'os/linux/no-new-privileges', value: true }])).toEqual(['NoNewPrivileges=yes']);
    expect(directives([{ name: 'os/linux/no-new-privileges', value: false }])).toEqual([]);
  });

  it('refuses what it cannot enforce: no controller, an isolator it does not implement', () => {
    const host = { ...HOST, controllers: new Set<'memory' | 'cpu'>(['cpu']), controllersWhy: 'no cgroup v1 memory hierarchy' };
    expect(refusal(() => directives([{ name: 'resource/memory', value: { limit: '1G' } }], { host }))).toBe(
      'app app: isolator resource/memory needs the memory cgroup controller, which the pod cannot use here (no cgroup v1 memory hierarchy)',
    );
    expect(refusal(() => directives([{ name: 'resource/block-bandwidth', value: { default: true, limit: '1M' } }]))).toBe(
      'app app: isolator resource/block-bandwidth is not supported by this stage1 (it cannot enforce it)',
    );
    expect(refusal(() => directives([{ name: 'example.com/whatever', value: 1 }]))).toContain('example.com/whatever is not supported');
    expect(refusal(() => directives([{ name: 'resource/memory', value: { limit: 'lots' } }]))).toContain('limit "lots" is not a memory size');
  });
});

describe('the pod', () => {
  it("reads stage0's --disable-* options", () => {
    expect(insecureIsolation(new Map([['disable-paths', 'true']]))).toEqual({ capabilities: false, paths: true, seccomp: false });
  });

  it('asks nspawn for the legacy layout (the hybrid one on a hybrid host) and writable controller cgroups only when resources are isolated', () => {
    expect(new PodIsolation('u', INSECURE, HOST).env()).toEqual({ SYSTEMD_NSPAWN_API_VFS_WRITABLE: '1' });
    const plain = new PodIsolation('u', SECURE, HOST);
    plain.forApp('a', { isolators: [{ name: 'os/linux/oom-score-adj', value: 5 }] }, 0);
    expect(plain.nspawnArgs()).toEqual([]);
    expect(plain.env()).toEqual({ SYSTEMD_SECCOMP: '0' });
    expect(plain.nspawnArgs()).toEqual([]);

    const limited = new PodIsolation('u', { ...INSECURE, paths: false }, HOST);
    expect(limited.forApp('a', { isolators: [{ name: 'resource/memory', value: { limit: '1G' } }] }, 0)[0]).toBe('MemoryLimit=1000000000');
    expect(limited.env()).toEqual({ SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '0', SYSTEMD_NSPAWN_USE_CGNS: '1' });
    // Empty: nspawn then takes the host's layout, hybrid, where the pod's systemd sees its cgroups empty.
    const hybrid = new PodIsolation('u', SECURE, { ...HOST, hybrid: true });
    hybrid.forApp('a', { isolators: [{ name: 'resource/memory', value: { limit: '1G' } }] }, 0);
    expect(hybrid.env()).toEqual({ SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '', SYSTEMD_NSPAWN_USE_CGNS: '1', SYSTEMD_SECCOMP: '0' });
    const args = limited.nspawnArgs();
    expect(args[0]).toBe('--tmpfs=/sys/fs/cgroup:mode=0755');
    // This machine's memory hierarchy (cgroup v1): the pod's own cgroup bound where nspawn would mount it.
    if (args.length > 1) expect(args[1]).toMatch(/^--bind=\/sys\/fs\/cgroup\/memory\/.*rkt-u:\/sys\/fs\/cgroup\/memory$/);
  });

  it("turns nspawn's own seccomp filter off only when every app has an allow-list of its own", () => {
    const pod = (isolators: unknown[][], insecure = SECURE) => {
      const p = new PodIsolation('u', insecure, HOST);
      isolators.forEach((iso, i) => p.forApp(`a${i}`, { isolators: iso }, 0));
      return p.env().SYSTEMD_SECCOMP;
    };
    expect(pod([[], []])).toBe('0');
    expect(pod([[{ name: 'os/linux/seccomp-retain-set', value: { set: ['@rkt/default-whitelist'] } }]])).toBe('0');
    // A deny-list, every syscall retained, or no filter at all: nspawn keeps its own for the whole pod.
    expect(pod([[], [{ name: 'os/linux/seccomp-remove-set', value: { set: ['chmod'] } }]])).toBeUndefined();
    expect(pod([[{ name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } }]])).toBeUndefined();
    expect(pod([[]], { ...SECURE, seccomp: true })).toBeUndefined();
    expect(pod([])).toBeUndefined();
  });

  it("takes the pod manifest's resource isolators for the pod's cgroups and refuses the others", () => {
    const pod = new PodIsolation('u', SECURE, HOST);
    pod.forPod([{ name: 'resource/cpu', value: { limit: '2' } }]);
    expect(pod.env()).toEqual({ SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '0', SYSTEMD_NSPAWN_USE_CGNS: '1' });
    expect(() => pod.forPod([{ name: 'os/linux/no-new-privileges', value: true }])).toThrow(
      'pod: isolator os/linux/no-new-privileges is not supported by this stage1 as a pod isolator (it cannot enforce it)',
    );
    expect(() => pod.forPod([{ name: 'resource/memory', value: { limit: 'x' } }])).toThrow('limit "x" is not a memory size');
    expect(() => pod.forPod(undefined)).not.toThrow();
  });

  it('refuses isolators that are not a list', () => {
    expect(() => new PodIsolation('u', INSECURE, HOST).forApp('a', { isolators: {} }, 0)).toThrow('app a: isolators must be an array');
  });
});
