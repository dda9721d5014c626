// The C run entrypoint's checks of the pod, before it runs anything: each refusal is one line and 254.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const source = fileURLToPath(new URL('../native/fly-run.c', import.meta.url));
let work: string;
let bin: string;
let pod: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fly-run-'));
  bin = join(work, 'fly-run');
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, source], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeEach(() => {
  pod = mkdtempSync(join(work, 'pod-'));
  mkdirSync(join(pod, 'appsinfo', 'web', 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(pod, 'appsinfo', 'web', 'rootfs', 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
});

function run(manifest: string, env: Record<string, string> = { RKT_LOCK_FD: '3' }, args: readonly string[] = []) {
  writeFileSync(join(pod, 'pod'), manifest);
  const r = spawnSync(bin, [...args, '11111111-2222-4333-8444-555555555555'], { cwd: pod, env, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

const app = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: [{ name: 'web', image: { id: `sha512-${'a'.repeat(128)}` }, app: { exec: ['/bin/true'], user: '0', group: '0', ...over } }],
  });

describe('fly run entrypoint refuses', () => {
  it('a missing lock', () => {
    expect(run(app(), {})).toEqual({ status: 254, stderr: 'stage1-fly run: RKT_LOCK_FD is not set to the pod lock\n' });
  });

  it('a torn or invalid pod manifest, naming the byte', () => {
    expect(run('{"acKind": "PodManifest", "apps": [')).toEqual({ status: 254, stderr: 'stage1-fly run: pod: invalid JSON at byte 35: unexpected end\n' });
    expect(run('{"acKind": "PodManifest", "apps": []} x').stderr).toBe('stage1-fly run: pod: invalid JSON at byte 38: trailing data\n');
    expect(run('{"acKind": "ImageManifest"}').stderr).toBe('stage1-fly run: pod: not a pod manifest\n');
  });

  it('a network other than the host\'s (rkt\'s --net=none), before it reads the pod; --net=host is its own', () => {
    const expected = "stage1-fly run: --net=none: the fly stage1 runs its app in the host's network namespace and cannot give it a network of its own; use the systemd stage1\n";
    expect(run(app(), { RKT_LOCK_FD: '3' }, ['--net=none'])).toEqual({ status: 254, stderr: expected });
    expect(run('{torn', { RKT_LOCK_FD: '3' }, ['--net=default']).stderr).toMatch(/^stage1-fly run: --net=default: the fly stage1 runs its app/);
    // Taken: the next refusal is the torn manifest's.
    expect(run('{torn', { RKT_LOCK_FD: '3' }, ['--net=host']).stderr).toMatch(/^stage1-fly run: pod: invalid JSON/);
  });

  it('more than one app', () => {
    const two = JSON.parse(app()) as { apps: unknown[] };
    two.apps.push(two.apps[0]);
    expect(run(JSON.stringify(two)).stderr).toBe('stage1-fly run: fly runs exactly one app per pod; this pod has 2\n');
  });

  it('an app without exec, an unknown user or group, a bad field', () => {
    expect(run(app({ exec: [] })).stderr).toBe('stage1-fly run: app "web" has no exec: give one with --exec\n');
    expect(run(app({ user: 'nobody' })).stderr).toBe('stage1-fly run: app "web": no user "nobody" in /etc/passwd of its rootfs\n');
    expect(run(app({ group: 'wheel' })).stderr).toBe('stage1-fly run: app "web": group "wheel" is a name, and its rootfs has no /etc/group\n');
    expect(run(app({ supplementaryGIDs: [-1] })).stderr).toBe('stage1-fly run: pod: apps[0].app.supplementaryGIDs must be a list of group IDs\n');
    expect(run(app({ environment: [{ name: 'A' }] })).stderr).toBe('stage1-fly run: pod: apps[0].app.environment[].value is required\n');
    expect(run(app({ exec: ['/bin/\u00e9\\"x', 1] })).stderr).toBe('stage1-fly run: pod: apps[0].app.exec must be an array of strings\n');
  });
});

describe("fly run entrypoint reads the app's /etc/passwd and /etc/group as the app sees them", () => {
  const rootfs = () => join(pod, 'appsinfo', 'web', 'rootfs');
  const relink = (target: string) => {
    rmSync(join(rootfs(), 'etc'), { recursive: true });
    symlinkSync(target, join(rootfs(), 'etc'));
  };

  it("through /etc as an absolute link to the image's /usr/etc, not the host's", () => {
    mkdirSync(join(rootfs(), 'usr', 'etc'), { recursive: true });
    writeFileSync(join(rootfs(), 'usr', 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
    relink('/usr/etc');
    // The image's own file is read: it has no such user (the host has no /usr/etc/passwd at all).
    expect(run(app({ user: 'web' })).stderr).toBe('stage1-fly run: app "web": no user "web" in /etc/passwd of its rootfs\n');
  });

  it('never through a link to a host directory that has the name', () => {
    const hostEtc = join(work, 'host-etc');
    mkdirSync(hostEtc, { recursive: true });
    writeFileSync(join(hostEtc, 'passwd'), 'hostonly:x:4242:4242::/:/bin/sh\n');
    writeFileSync(join(hostEtc, 'group'), 'hostonly:x:4242:\n');
    relink(hostEtc);
    expect(run(app({ user: 'hostonly' })).stderr).toBe('stage1-fly run: app "web": user "hostonly" is a name, and its rootfs has no /etc/passwd\n');
    expect(run(app({ group: `${hostEtc}/group` })).stderr).toBe(`stage1-fly run: app "web": cannot find the group of ${hostEtc}/group in its rootfs\n`);
  });

  it('a link loop is one line naming the file', () => {
    relink('/etc');
    expect(run(app({ user: 'web' })).stderr).toBe('stage1-fly run: app "web": user "web" is a name, and /etc/passwd of its rootfs cannot be opened: Too many levels of symbolic links\n');
  });
});

describe("fly run entrypoint gives the app rkt's /etc/resolv.conf and /etc/hosts (--dns-conf-mode)", () => {
  const rootfs = () => join(pod, 'appsinfo', 'web', 'rootfs');
  const dns = (mode: string, manifest = app()) => run(manifest, { RKT_LOCK_FD: '3' }, [`--dns-conf-mode=${mode}`]);

  it('refuses an unknown mode in one line', () => {
    expect(dns('resolv=stage1')).toEqual({
      status: 254,
      stderr: 'stage1-fly run: --dns-conf-mode="resolv=stage1": "resolv=stage1" is not resolv=(host|stage0|none|default) or hosts=(host|stage0|default)\n',
    });
    expect(dns('resolv=host,hosts=none').stderr).toMatch(/: "hosts=none" is not /);
    expect(dns('resolv=host,').stderr).toMatch(/: "" is not /);
  });

  it('refuses a resolv.conf that resolves to a directory, or a missing file from stage0, before the app runs', () => {
    mkdirSync(join(rootfs(), 'usr'));
    symlinkSync('/usr', join(rootfs(), 'etc', 'resolv.conf'));
    writeFileSync(join(pod, 'rkt-resolv.conf'), 'nameserver 1.2.3.4\n');
    expect(dns('resolv=stage0,hosts=default')).toEqual({ status: 254, stderr: 'stage1-fly run: app "web": cannot write /etc/resolv.conf in its rootfs: it resolves to a directory\n' });
    rmSync(join(rootfs(), 'etc', 'resolv.conf'));
    symlinkSync('resolv.conf', join(rootfs(), 'etc', 'resolv.conf'));
    expect(dns('resolv=stage0').stderr).toBe('stage1-fly run: app "web": cannot write /etc/resolv.conf in its rootfs: Too many levels of symbolic links\n');
    expect(dns('hosts=stage0').stderr).toBe('stage1-fly run: cannot open rkt-hosts: No such file or directory\n');
    expect(readdirSync(join(rootfs(), 'usr'))).toEqual([]);
  });

  it('writes through the image\'s links inside the root (one out of it, one to nothing below /run), then runs the app', () => {
    // A real app: busybox as /bin/true.
    mkdirSync(join(rootfs(), 'bin'));
    copyFileSync('/bin/busybox', join(rootfs(), 'bin', 'true'));
    const outside = join(work, 'outside');
    symlinkSync(`/../../..${outside}/resolv.conf`, join(rootfs(), 'etc', 'resolv.conf'));
    symlinkSync('../run/hosts/hosts', join(rootfs(), 'etc', 'hosts'));
    writeFileSync(join(pod, 'rkt-resolv.conf'), 'nameserver 1.2.3.4\n');
    writeFileSync(join(pod, 'rkt-hosts'), '10.0.0.5\tdb.local\n');
    expect(dns('resolv=stage0,hosts=stage0')).toEqual({ status: 0, stderr: '' });
    expect(existsSync(outside)).toBe(false);
    expect(readFileSync(join(rootfs(), outside, 'resolv.conf'), 'utf8')).toBe('nameserver 1.2.3.4\n');
    expect(readlinkSync(join(rootfs(), 'etc', 'hosts'))).toBe('../run/hosts/hosts');
    expect(readFileSync(join(rootfs(), 'run', 'hosts', 'hosts'), 'utf8')).toBe('10.0.0.5\tdb.local\n');
    // The host's own, for host.
    expect(dns('resolv=host,hosts=host')).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(join(rootfs(), outside, 'resolv.conf'), 'utf8')).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
    expect(readFileSync(join(rootfs(), 'run', 'hosts', 'hosts'), 'utf8')).toBe(readFileSync('/etc/hosts', 'utf8'));
    // none and default leave the image's files as they are.
    writeFileSync(join(rootfs(), outside, 'resolv.conf'), 'image\n');
    expect(dns('resolv=none,hosts=default')).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(join(rootfs(), outside, 'resolv.conf'), 'utf8')).toBe('image\n');
  });
});

describe('fly run entrypoint finds a relative exec inside the app\'s root, as the systemd stage1 does', () => {
  const rootfs = () => join(pod, 'appsinfo', 'web', 'rootfs');
  // The app's argv[0] as it runs (`sh -c` with no more arguments: $0): the path found, not where its links lead
  // (busybox reads its applet from it); the arguments after it as they were.
  const argv0 = (exec: string, over: Record<string, unknown> = {}) => {
    writeFileSync(join(pod, 'pod'), app({ exec: [exec, '-c', 'echo "$0"'], ...over }));
    const r = spawnSync(bin, ['11111111-2222-4333-8444-555555555555'], { cwd: pod, env: { RKT_LOCK_FD: '3' }, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const path = (value: string) => ({ environment: [{ name: 'PATH', value }] });
  beforeEach(() => {
    // A merged /usr: /bin -> usr/bin, the binary in /usr/bin.
    mkdirSync(join(rootfs(), 'usr', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs(), 'usr', 'bin', 'busybox'));
    symlinkSync('busybox', join(rootfs(), 'usr', 'bin', 'sh'));
    symlinkSync('usr/bin', join(rootfs(), 'bin'));
    // An entry of PATH linking out of the root: on the host /usr/bin has env, the app's own /usr/bin has not.
    symlinkSync('/usr/bin', join(rootfs(), 'hostbin'));
    // In fly's default PATH, not in the search without one.
    mkdirSync(join(rootfs(), 'usr', 'local', 'bin'), { recursive: true });
    writeFileSync(join(rootfs(), 'usr', 'local', 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    // A file named sh that cannot run: skipped.
    mkdirSync(join(rootfs(), 'nox'));
    writeFileSync(join(rootfs(), 'nox', 'sh'), 'not a program\n', { mode: 0o644 });
  });

  it("searches a bare name in the PATH of the app's manifest, in order, through the image's links", () => {
    expect(argv0('sh', path('/nowhere:/nox:/bin:/usr/bin'))).toEqual({ status: 0, stdout: '/bin/sh\n', stderr: '' });
    // A relative entry is after the working directory.
    expect(argv0('sh', { ...path('bin'), workingDirectory: '/usr' }).stdout).toBe('/usr/bin/sh\n');
  });

  it('without a PATH in the manifest (fly\'s default is not searched), looks in the working directory, /bin and /usr/bin', () => {
    expect(argv0('sh').stdout).toBe('/bin/sh\n');
    expect(argv0('sh', { workingDirectory: '/usr/bin' }).stdout).toBe('/usr/bin/sh\n');
    expect(argv0('tool').stderr).toBe('stage1-fly run: app "web": cannot execute tool: not found in /, /bin or /usr/bin (its environment has no PATH) in its root filesystem\n');
  });

  it('joins a path with a slash to the working directory', () => {
    expect(argv0('bin/sh').stdout).toBe('/bin/sh\n');
    expect(argv0('./sh', { workingDirectory: '/usr/bin' }).stdout).toBe('/usr/bin/sh\n');
    expect(argv0('../bin/sh', { workingDirectory: '/nox' }).stdout).toBe('/bin/sh\n');
    expect(argv0('nox/sh')).toEqual({ status: 254, stdout: '', stderr: 'stage1-fly run: cannot execute /nox/sh: Permission denied\n' });
  });

  it('refuses a name it cannot find in one line, 254, never looking on the host', () => {
    expect(existsSync('/usr/bin/env')).toBe(true);
    expect(argv0('env', path('/hostbin'))).toEqual({
      status: 254,
      stdout: '',
      stderr: 'stage1-fly run: app "web": cannot execute env: not found in its PATH (/hostbin) in its root filesystem\n',
    });
    expect(argv0('sh', path('/hostbin')).stdout).toBe('/hostbin/sh\n');
    expect(argv0('nope', { workingDirectory: '/nox' })).toEqual({
      status: 254,
      stdout: '',
      stderr: 'stage1-fly run: app "web": cannot execute nope: not found in /nox, /bin or /usr/bin (its environment has no PATH) in its root filesystem\n',
    });
    expect(readFileSync(join(pod, 'appsinfo', 'web', 'exit'), 'utf8')).toBe('254\n');
  });
});
