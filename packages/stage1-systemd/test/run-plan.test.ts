// The run entrypoint's decisions that a real pod on this machine cannot show: how nspawn meets a host
// whose init is systemd (this one's is not), and the exact unit lines behind rkt's pod semantics.
import { chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addedAppTtyPath } from '../src/added-streams.js';
import { appEnvironment, DEFAULT_PATH } from '../src/environment.js';
import { resolveId } from '../src/ids.js';
import { hostRunsSystemd, nspawnArgs, podNetwork, podPrivateUsers, registrationArgs } from '../src/nspawn.js';
import { stage1Root } from '../src/stage1-root.js';
import { noteStop, readStop, stopStatus } from '../src/stop-note.js';
import { appIoName, appIoPath, appUnit, commandsBeforeMain, needsReaper, parseAppStatus, podTarget, reaperUnit, stoppedBeforeMain } from '../src/units.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'stage1-systemd-test-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const nspawnOptions = (systemdHost: boolean) =>
  ({
    directory: '/p/stage1-root/rootfs',
    uuid: '0a1b2c3d-0000-4000-8000-000000000001',
    unitsDir: '/p/units',
    passwdFile: '/p/passwd',
    groupFile: '/p/group',
    ioDir: '/p/io',
    statusDir: '/p/status',
    appRoots: [{ host: '/p/appsinfo/a/rootfs', pod: '/opt/stage2/a/rootfs' }],
    console: 'read-only',
    debug: false,
    systemdHost,
  }) as const;

describe('machined registration', () => {
  it('detects a systemd host by /run/systemd/system, as sd_booted() does', () => {
    expect(hostRunsSystemd(tmp)).toBe(false);
    mkdirSync(join(tmp, 'run/systemd/system'), { recursive: true });
    expect(hostRunsSystemd(tmp)).toBe(true);
  });

  it('registers the pod as machine rkt-UUID on a systemd host, and neither registers nor moves units elsewhere', () => {
    const onSystemd = nspawnArgs(nspawnOptions(true));
    expect(onSystemd).toContain('--register=yes');
    expect(onSystemd).toContain('--machine=rkt-0a1b2c3d-0000-4000-8000-000000000001');
    expect(onSystemd).not.toContain('--keep-unit');
    const elsewhere = nspawnArgs(nspawnOptions(false));
    expect(elsewhere).toEqual(expect.arrayContaining(['--register=no', '--keep-unit']));
    expect(elsewhere).not.toContain('--register=yes');
    expect(registrationArgs(true)).toEqual(['--register=yes']);
    // systemd's own arguments come last, after --.
    expect(elsewhere.slice(elsewhere.indexOf('--') + 1)).toEqual(['--show-status=0', '--log-target=null']);
  });

  it("boots the pod's own root, an overlay on a tmpfs in the pod directory, not the store's tree with --volatile", () => {
    const args = nspawnArgs(nspawnOptions(false));
    expect(args).toContain('--directory=/p/stage1-root/rootfs');
    expect(args.filter((a) => a.startsWith('--volatile'))).toEqual([]);
    // overlayfs splits its options at `,` and lower dirs at `:`: both are escaped.
    expect(stage1Root('/data/pods/run/a,b', '/store/trees/x:y/rootfs')).toEqual({
      tmpfs: '/data/pods/run/a,b/stage1-root',
      rootfs: '/data/pods/run/a,b/stage1-root/rootfs',
      overlayOptions: 'lowerdir=/store/trees/x\\:y/rootfs,upperdir=/data/pods/run/a\\,b/stage1-root/upper,workdir=/data/pods/run/a\\,b/stage1-root/work',
    });
  });

  it("gives the pod a network of its own for --net=none, and joins a namespace made for rkt's CNI networks", () => {
    expect(nspawnArgs(nspawnOptions(false))).not.toContain('--private-network');
    expect(nspawnArgs(nspawnOptions(false)).some((a) => a.startsWith('--network-namespace-path'))).toBe(false);
    expect(nspawnArgs({ ...nspawnOptions(false), privateNetwork: true })).toContain('--private-network');
    expect(nspawnArgs({ ...nspawnOptions(false), networkNamespacePath: '/run/netns/rkt-x' })).toContain('--network-namespace-path=/run/netns/rkt-x');
    expect([podNetwork(undefined), podNetwork('host'), podNetwork('none')]).toEqual(['host', 'host', 'none']);
    expect(podNetwork('default,mynet:IP=10.1.0.9')).toEqual({ cni: 'default,mynet:IP=10.1.0.9' });
    expect(() => podNetwork('')).toThrow('--net=: netname must not be empty');
  });

  it('runs the pod in a user namespace only for --private-users=SHIFT:COUNT, its roots already shifted (ownership off)', () => {
    expect(nspawnArgs(nspawnOptions(false)).filter((a) => a.startsWith('--private-users'))).toEqual([]);
    const args = nspawnArgs({ ...nspawnOptions(false), privateUsers: { shift: 524288, count: 65536 } });
    expect(args.filter((a) => a.startsWith('--private-users'))).toEqual(['--private-users=524288:65536', '--private-users-ownership=off']);
    expect(args.indexOf('--private-users=524288:65536')).toBeLessThan(args.indexOf('--'));
    expect([podPrivateUsers(undefined), podPrivateUsers('524288:65536')]).toEqual([undefined, { shift: 524288, count: 65536 }]);
    for (const bad of ['', 'pick', '0:65536', '524288:0', '524288', '-1:5', '4294967295:1', '524288:65536:1']) {
      expect(() => podPrivateUsers(bad)).toThrow(`--private-users=${bad}: expected SHIFT:COUNT, a range of host IDs above 0 (as 524288:65536)`);
    }
  });

  it('gives nspawn the hostname only when asked, and the terminal only to an interactive app', () => {
    expect(nspawnArgs(nspawnOptions(false)).some((a) => a.startsWith('--hostname'))).toBe(false);
    expect(nspawnArgs({ ...nspawnOptions(false), hostname: 'web' })).toContain('--hostname=web');
    expect(nspawnArgs({ ...nspawnOptions(false), console: 'interactive' })).toContain('--console=interactive');
  });
});

describe('units', () => {
  const spec = { name: 'web', exec: ['/bin/sh', '-c', 'echo $HOME 100%'], uid: 1000, gid: 100, workingDirectory: '/srv', environment: [{ name: 'A', value: 'b c' }] };

  it("stops every app and reaper with the pod's shutdown, after nothing it needs is unmounted", () => {
    const unit = appUnit(spec);
    expect(unit).toContain('\nConflicts=shutdown.target\n');
    expect(unit).toMatch(/\nRequiresMountsFor=\/opt\/stage2\/web\/rootfs \/rkt\/io \/rkt\/status \/etc\/passwd \/etc\/group\n/);
    expect(unit).not.toContain('SuccessAction');
    expect(unit).toContain('ExecStart="/bin/sh" "-c" "echo $$HOME 100%%"\n');
    expect(unit).toContain('Environment="A=b c"\n');
    // A stop's SIGKILL to what is left of the app comes after a short grace, not systemd's 90 s.
    expect(unit).toContain('\nTimeoutStopSec=5s\n');
    expect(reaperUnit('web')).toContain('\nRequiresMountsFor=/rkt/status\n');
    expect(podTarget(['web', 'db'], ['db'])).toContain('Wants=rkt-app-web.service rkt-app-db.service rkt-reaper-db.service\n');
  });

  it('records the status of an app without event handlers in its own unit, from the stage1, before anything else of the app runs after it', () => {
    const unit = appUnit(spec, { exitWhenAllDone: ['web', 'db'] });
    // The recorder runs in the stage1 root (its dash, the status directory); the app's root stays the app's.
    expect(unit).toContain('\nRootDirectory=/opt/stage2/web/rootfs\nRootDirectoryStartOnly=yes\n');
    // As the main process ends (ExecStop=, when it has ended), else after the app was stopped or never started.
    const recorders = unit.split('\n').filter((l) => /^ExecStop(Post)?=/.test(l));
    expect(recorders).toHaveLength(2);
    expect(recorders[0]).toMatch(/^ExecStop=\+\/bin\/dash -c "\[ -n \\"\$\$EXIT_CODE\\" \] \|\| exit 0; exec > \/dev\/null 2>&1; /);
    expect(recorders[1]).toMatch(/^ExecStopPost=\+\/bin\/dash -c "\[ -e \/rkt\/status\/web \] && exit 0; exec > \/dev\/null 2>&1; /);
    for (const recorder of recorders) {
      expect(recorder).toContain('echo \\"$${EXIT_CODE:--} $${EXIT_STATUS:--} $$SERVICE_RESULT\\" > /rkt/status/web');
      expect(recorder).toContain('[ -e /rkt/status/web ] && [ -e /rkt/status/db ]; then kill -37 1; fi');
    }
    // No process of the unit's before the app's unless there is no stream socket to tell that it started.
    expect(unit).not.toContain('ExecStartPre');
    expect(appUnit({ ...spec, stdin: 'tty' }, { markStarted: true })).toContain('ExecStartPre=+/bin/dash -c "echo > /rkt/status/web.started"\n');
  });

  it('leaves an app with event handlers in its root for all of them, and its status to a reaper', () => {
    expect(needsReaper({ postStop: ['/bin/post'] }, false)).toBe(true);
    expect(needsReaper({ preStart: ['/bin/pre'] }, false)).toBe(true);
    expect(needsReaper({}, false)).toBe(false);
    // systemd with the legacy cgroup layout in a pod would record a failed app's status only at TimeoutStopSec=.
    expect(needsReaper({}, true)).toBe(true);
    const unit = appUnit({ ...spec, postStop: ['/bin/post'] }, { reaped: true, markStarted: true });
    expect(unit).not.toContain('RootDirectoryStartOnly');
    expect(unit).not.toContain('/bin/dash');
    expect(unit.split('\n').filter((l) => l.startsWith('ExecStopPost='))).toEqual(['ExecStopPost="/bin/post"']);
    const reaper = reaperUnit('web');
    expect(reaper).toContain('\nBindsTo=rkt-app-web.service\nBefore=rkt-app-web.service\n');
    expect(reaper).toContain('> /rkt/status/web');
  });

  it('runs event handlers before and after the app, and gives a terminal or a FIFO as standard input', () => {
    const unit = appUnit({ ...spec, preStart: ['/bin/pre'], postStop: ['/bin/post', 'x'], stdin: 'fifo', serviceExtra: ['MemoryMax=1M'] });
    expect(unit).toContain('ExecStartPre="/bin/pre"\n');
    expect(unit).toContain('ExecStopPost="/bin/post" "x"\n');
    expect(unit).toContain('StandardInput=file:/rkt/io/web.stdin\n');
    expect(unit).toContain('MemoryMax=1M\n');
    // Each command before the app's connects to its stdin socket first: the relay counts them.
    expect(commandsBeforeMain(unit)).toBe(1);
    expect(commandsBeforeMain(appUnit({ ...spec, stdin: 'fifo' }))).toBe(0);
    expect(commandsBeforeMain(appUnit({ ...spec, preStart: ['/bin/pre'], stdin: 'tty' }, { markStarted: true }))).toBe(2);
    const tty = appUnit({ ...spec, stdin: 'tty' });
    expect(tty).toContain('StandardInput=tty-force\nStandardOutput=tty\n');
    expect(tty).not.toContain('/rkt/io/');
    expect(() => appUnit({ ...spec, postStop: ['post'] })).toThrow('the post-stop event handler must start with an absolute path');
  });

  it("gives an app in rkt's tty mode its own pty for the streams in that mode, bound into the pod and its root", () => {
    const all = appUnit({ ...spec, tty: { stdin: true, stdout: true, stderr: true } });
    expect(all).toContain('\nTTYPath=/rkt/tty/web\nBindPaths=/rkt/tty/web\nStandardInput=tty\nStandardOutput=tty\nStandardError=tty\n');
    expect(all).not.toContain('/rkt/io/');
    // The streams not in tty mode keep their sockets.
    const out = appUnit({ ...spec, stdin: 'null', tty: { stdin: false, stdout: true, stderr: false } });
    expect(out).toContain('\nStandardInput=null\nStandardOutput=tty\nStandardError=file:/rkt/io/web.stderr\n');
    expect(nspawnArgs({ ...nspawnOptions(false), ttys: [{ host: '/dev/pts/7', pod: '/rkt/tty/web' }] })).toContain('--bind=/dev/pts/7:/rkt/tty/web');
    // An app added to a running pod: its pty where the shared appsinfo mount brings it (added-streams.ts).
    const added = appUnit({ ...spec, tty: { stdin: true, stdout: true, stderr: true }, ttyPath: addedAppTtyPath('web') });
    expect(added).toContain('\nTTYPath=/opt/stage2/web/tty\nBindPaths=/opt/stage2/web/tty\nStandardInput=tty\nStandardOutput=tty\nStandardError=tty\n');
  });

  it('binds from the pod the /etc files whose links lead below the app\'s /run, needing the pod\'s bind of them', () => {
    const unit = appUnit({ ...spec, etcBinds: ['/etc/hostname', '/etc/hosts'] });
    expect(unit).toContain('\nMountAPIVFS=yes\nBindPaths=/rkt/etc/web/hostname:/etc/hostname\nBindPaths=/rkt/etc/web/hosts:/etc/hosts\n');
    expect(unit).toMatch(/\nRequiresMountsFor=\/opt\/stage2\/web\/rootfs \/rkt\/io \/rkt\/status \/rkt\/etc \/etc\/passwd \/etc\/group\n/);
    expect(appUnit(spec)).not.toContain('BindPaths');
    expect(nspawnArgs({ ...nspawnOptions(false), appEtcDir: '/p/stage1-app-etc' })).toContain('--bind=/p/stage1-app-etc:/rkt/etc');
    expect(nspawnArgs(nspawnOptions(false)).filter((a) => a.includes('/rkt/etc'))).toEqual([]);
  });

  it('reads a recorded status as rkt reports statuses', () => {
    expect(parseAppStatus('exited 5 exit-code\n')).toBe(5);
    expect(parseAppStatus('exited 0 success')).toBe(0);
    // systemd names the signal; a reaper has its number from systemctl.
    expect(parseAppStatus('killed TERM success')).toBe(143);
    expect(parseAppStatus('killed 15 success')).toBe(143);
    expect(parseAppStatus('dumped SEGV core-dump')).toBe(139);
    expect(parseAppStatus('killed RTMIN+3 signal')).toBe(128 + 37);
    // Never ran: its pre-start handler failed.
    expect(parseAppStatus('- - exit-code')).toBe(1);
    expect(() => parseAppStatus('garbage')).toThrow('unreadable app status');
    expect(() => parseAppStatus('killed NOSUCH signal')).toThrow('unreadable app status');
  });

  it("tells an app stopped before its main process ran from one whose pre-start handler failed", () => {
    expect(stoppedBeforeMain('- - success\n')).toBe(true);
    expect(stoppedBeforeMain('- - signal')).toBe(true);
    expect(stoppedBeforeMain('- - exit-code')).toBe(false);
    expect(stoppedBeforeMain('killed TERM success')).toBe(false);
  });
});

describe('the stop note', () => {
  it('keeps a forced stop forced, reads a half-written note as a stop, and gives each its signal status', () => {
    expect(readStop(tmp)).toBeUndefined();
    noteStop(tmp, 'TERM');
    expect(readStop(tmp)).toBe('TERM');
    noteStop(tmp, 'KILL');
    noteStop(tmp, 'TERM');
    expect(readStop(tmp)).toBe('KILL');
    // Truncated by its writer and not yet written again.
    writeFileSync(join(tmp, 'stage1-stop'), '');
    expect(readStop(tmp)).toBe('TERM');
    expect(stopStatus('TERM')).toBe(143);
    expect(stopStatus('KILL')).toBe(137);
  });
});

describe('the app environment, user and /etc', () => {
  it('defaults PATH, lets rkt, the image and the user override it in that order, and sets what the executor defines', () => {
    expect(appEnvironment('web', [])).toEqual([
      { name: 'PATH', value: DEFAULT_PATH },
      { name: 'AC_APP_NAME', value: 'web' },
      { name: 'container', value: 'rkt' },
    ]);
    const env = new Map(appEnvironment('web', [{ name: 'PATH', value: '/app' }, { name: 'AC_APP_NAME', value: 'spoofed' }], { HOME: '/root', PATH: '/host', RKT_LOCK_FD: '3' }).map((e) => [e.name, e.value]));
    expect(env.get('PATH')).toBe('/app');
    expect(env.get('HOME')).toBe('/root');
    expect(env.get('AC_APP_NAME')).toBe('web');
    expect(env.has('RKT_LOCK_FD')).toBe(false);
  });

  it('resolves a user or group by number, by name, or by the owner of a path without following its last link', async () => {
    mkdirSync(join(tmp, 'etc'));
    writeFileSync(join(tmp, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\nweb:x:1000:1000::/:/bin/sh\n');
    writeFileSync(join(tmp, 'etc/group'), 'root:x:0:\n');
    expect(await resolveId(tmp, 'user', '42', 'a')).toBe(42);
    expect(await resolveId(tmp, 'user', 'web', 'a')).toBe(1000);
    await expect(resolveId(tmp, 'group', 'web', 'a')).rejects.toThrow('app a: no group web in /etc/group of its root filesystem');
    expect(await resolveId(tmp, 'user', '/etc/passwd', 'a')).toBe(process.getuid?.());
    await expect(resolveId(tmp, 'user', '/nope', 'a')).rejects.toThrow('app a: user /nope is a path');
    symlinkSync('/etc/passwd', join(tmp, 'link'));
    lchownSync(join(tmp, 'link'), 4242, 4343);
    expect(await resolveId(tmp, 'user', '/link', 'a')).toBe(4242);
    expect(await resolveId(tmp, 'group', '/link', 'a')).toBe(4343);
  });

  it("resolves names and paths through the image's own links inside its root, never the host's", async () => {
    // The image's /etc is an absolute link to its /usr/etc; on the host, /usr/etc would be the host's.
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'usr/etc'), { recursive: true });
    symlinkSync('/usr/etc', join(root, 'etc'));
    writeFileSync(join(root, 'usr/etc/passwd'), 'web:x:1000:1000::/:/bin/sh\n');
    writeFileSync(join(root, 'usr/etc/group'), 'web:x:1001:\n');
    writeFileSync(join(root, 'usr/etc/owned'), '');
    chownSync(join(root, 'usr/etc/owned'), 4242, 4343);
    expect(await resolveId(root, 'user', 'web', 'a')).toBe(1000);
    expect(await resolveId(root, 'group', 'web', 'a')).toBe(1001);
    expect(await resolveId(root, 'user', '/etc/owned', 'a')).toBe(4242);
    // A link to a host file that has the name: resolved in the root, where there is no such file.
    const hostEtc = join(tmp, 'host-etc');
    mkdirSync(hostEtc);
    writeFileSync(join(hostEtc, 'passwd'), 'host-user:x:7:7::/:/bin/sh\n');
    const other = join(tmp, 'other');
    mkdirSync(other);
    symlinkSync(hostEtc, join(other, 'etc'));
    await expect(resolveId(other, 'user', 'host-user', 'a')).rejects.toThrow('app a: user host-user is a name and its root filesystem has no /etc/passwd');
    await expect(resolveId(other, 'user', '/etc/passwd', 'a')).rejects.toThrow('app a: user /etc/passwd is a path and there is no such file in its root filesystem');
  });
});

describe("the apps' stream sockets", () => {
  it('keep a short app name, and give a long one a hash that still fits a unix socket path', () => {
    expect(appIoPath('web', 'stdout')).toBe('/rkt/io/web.stdout');
    const long = `a${'-b'.repeat(100)}`;
    const [out, err] = [appIoPath(long, 'stdout'), appIoPath(long, 'stderr')];
    expect(out).not.toBe(err);
    // Where the run entrypoint binds it (relative to the pod directory) and where systemd connects.
    for (const p of [out, err, `stage1-io/${appIoName(long, 'stdin')}`]) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(107);
    expect(appIoPath(`${long}x`, 'stdout')).not.toBe(out);
  });
});
