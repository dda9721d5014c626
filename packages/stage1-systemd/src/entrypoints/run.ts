import { spawn, spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { appIoPath, appStatusPath, appUnit, appUnitName, podTarget, reaperUnit, reaperUnitName, stage2Root, type AppUnitSpec } from '../units.js';
import { removeCgroupTree } from '../cgroups.js';
import { fail, parseEntrypointArgs } from './args.js';

interface PodApp {
  name: string;
  app?: {
    exec?: string[];
    user?: string;
    group?: string;
    workingDirectory?: string;
    environment?: Array<{ name: string; value: string }>;
  };
}

/** A user or group of the app's image: numeric as is, a name looked up in the app's own passwd/group file. */
function resolveId(rootfs: string, file: 'passwd' | 'group', value: string | undefined, app: string): number {
  const v = value ?? '0';
  if (/^[0-9]+$/.test(v)) return Number(v);
  let text: string;
  try {
    text = readFileSync(join(rootfs, 'etc', file), 'utf8');
  } catch {
    throw new Error(`app ${app}: ${file === 'passwd' ? 'user' : 'group'} ${v} not found (no /etc/${file})`);
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === v && f[2] !== undefined && /^[0-9]+$/.test(f[2])) return Number(f[2]);
  }
  throw new Error(`app ${app}: ${file === 'passwd' ? 'user' : 'group'} ${v} not found in /etc/${file}`);
}

/**
 * nspawn lines --quiet does not silence: its complaint about the propagation directory it may not delete
 * when the host's /run is not a tmpfs (run removes that directory itself), and its notice on SIGTERM,
 * which is how `rkt stop` asks the pod to halt.
 */
const QUIET_NSPAWN_LINES = [
  'Attempted to remove disk file system under "/run/systemd/nspawn/propagate/',
  'Trying to halt container. Send SIGTERM again to trigger immediate termination.',
];

/** sd_booted()'s test: a host run by systemd has /run/systemd/system. */
function hostRunsSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

/**
 * The hierarchies nspawn manages cgroups in: the v2 one (at /sys/fs/cgroup on a unified host,
 * /sys/fs/cgroup/unified on a hybrid one) and v1's name=systemd, with this process's path in each.
 */
function nspawnHierarchies(): Array<{ root: string; path: string }> {
  const found: Array<{ root: string; path: string }> = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    if (controllers === '') {
      const root = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
      if (existsSync(join(root, 'cgroup.procs'))) found.push({ root, path });
    } else if (controllers === 'name=systemd' && existsSync('/sys/fs/cgroup/systemd/cgroup.procs')) {
      found.push({ root: '/sys/fs/cgroup/systemd', path });
    }
  }
  return found;
}

/**
 * Moves this process into a cgroup of its own per pod (`rkt-UUID` below its cgroup, in each hierarchy
 * nspawn uses): unregistered nspawn (--keep-unit) puts its payload/ and supervisor/ cgroups below its
 * own, which two pods started from one cgroup would share. Returns how to move back and remove them.
 */
function enterPodCgroups(uuid: string): () => void {
  const moved: Array<{ from: string; dir: string }> = [];
  for (const h of nspawnHierarchies()) {
    const from = join(h.root, h.path);
    const dir = join(from, `rkt-${uuid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cgroup.procs'), `${process.pid}\n`);
    moved.push({ from, dir });
  }
  return () => {
    for (const m of moved) {
      try {
        writeFileSync(join(m.from, 'cgroup.procs'), `${process.pid}\n`);
      } catch {
        // The parent is gone or refuses us: the rmdir below then fails and leaves the cgroup to gc.
      }
      removeCgroupTree(m.dir);
    }
  };
}


async function main(): Promise<number> {
  const { options, rest } = parseEntrypointArgs(process.argv.slice(2));
  const uuid = rest[0];
  if (uuid === undefined) throw new Error('usage: run [--debug] [--interactive] [--inherit-env] [--local-config=DIR] UUID');
  const debug = options.get('debug') === 'true';
  const pod = process.cwd();
  const manifest = JSON.parse(readFileSync(join(pod, 'pod'), 'utf8')) as { apps?: PodApp[] };
  const apps = manifest.apps ?? [];
  if (apps.length === 0) throw new Error('the pod has no apps');

  const unitsDir = join(pod, 'stage1-units');
  mkdirSync(unitsDir, { recursive: true });
  const binds: string[] = [];
  const uids = new Set<number>([0, 65534]);
  const gids = new Set<number>([0, 65534]);
  for (const a of apps) {
    const rootfs = join(pod, 'appsinfo', a.name, 'rootfs');
    const spec: AppUnitSpec = {
      name: a.name,
      exec: a.app?.exec ?? [],
      uid: resolveId(rootfs, 'passwd', a.app?.user, a.name),
      gid: resolveId(rootfs, 'group', a.app?.group, a.name),
      workingDirectory: a.app?.workingDirectory ?? '/',
      environment: a.app?.environment ?? [],
    };
    uids.add(spec.uid);
    gids.add(spec.gid);
    writeFileSync(join(unitsDir, appUnitName(a.name)), appUnit(spec, apps.length > 1));
    if (apps.length > 1) writeFileSync(join(unitsDir, reaperUnitName(a.name)), reaperUnit(a.name, apps.map((x) => x.name)));
    binds.push(`--bind=${rootfs}:${stage2Root(a.name)}`);
  }
  writeFileSync(join(unitsDir, 'default.target'), podTarget(apps.map((a) => a.name)));
  // systemd resolves User=/Group= in the stage1's own databases and refuses IDs missing there (status
  // 217/USER), numeric ones included: the pod gets passwd and group files naming every app's IDs.
  const etcDir = join(pod, 'stage1-etc');
  mkdirSync(etcDir, { recursive: true });
  writeFileSync(join(etcDir, 'passwd'), [...uids].map((u) => `${u === 0 ? 'root' : `rkt-${u}`}:x:${u}:${u === 0 ? 0 : 65534}::/:/bin/sh\n`).join(''));
  writeFileSync(join(etcDir, 'group'), [...gids].map((g) => `${g === 0 ? 'root' : `rkt-${g}`}:x:${g}:\n`).join(''));

  // One FIFO per app and stream. The read end is opened non-blocking (no writer yet), and a write end is
  // held here until nspawn exits so that the relay sees end-of-file only after every app has closed its
  // end, not before the first one opened it.
  const statusDir = join(pod, 'stage1-status');
  mkdirSync(statusDir, { recursive: true });
  const ioDir = join(pod, 'stage1-io');
  mkdirSync(ioDir, { recursive: true });
  const relays: Array<Promise<void>> = [];
  const holders: number[] = [];
  for (const a of apps) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const fifo = join(ioDir, `${a.name}.${stream}`);
      if (!existsSync(fifo)) {
        const r = spawnSync('mkfifo', ['-m', '0600', fifo], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`mkfifo ${fifo}: ${(r.stderr ?? r.error?.message ?? '').trim()}`);
      }
      const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      holders.push(openSync(fifo, constants.O_WRONLY));
      const out = stream === 'stdout' ? process.stdout : process.stderr;
      // A libuv pipe handle, not an fs stream: it polls the non-blocking FIFO instead of failing on EAGAIN.
      const rs = new Socket({ fd: readFd, readable: true, writable: false });
      relays.push(
        new Promise<void>((resolve) => {
          rs.on('data', (chunk) => out.write(chunk));
          rs.on('end', () => resolve());
          rs.on('error', () => resolve());
        }),
      );
    }
  }

  const stage1 = realpathSync(join(pod, 'stage1', 'rootfs'));
  const libPath = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu/systemd']
    .map((d) => join(stage1, d))
    .join(':');
  // systemd-nspawn comes from the stage1 image, not the host: its own loader and libraries run it, so the
  // host needs no systemd at all.
  const args = [
    '--library-path',
    libPath,
    join(stage1, 'usr/bin/systemd-nspawn'),
    '--boot',
    `--directory=${stage1}`,
    // The stage1 tree is the store's, shared by every pod of this stage1: writes go to a tmpfs overlay.
    '--volatile=overlay',
    `--machine=rkt-${uuid}`,
    `--uuid=${uuid.replace(/-/g, '')}`,
    '--link-journal=no',
    `--bind-ro=${unitsDir}:/etc/systemd/system`,
    `--bind-ro=${join(etcDir, 'passwd')}:/etc/passwd`,
    `--bind-ro=${join(etcDir, 'group')}:/etc/group`,
    `--bind=${ioDir}:${appIoPath('', 'stdout').replace(/\/[^/]*$/, '')}`,
    `--bind=${statusDir}:${appStatusPath('').replace(/\/[^/]*$/, '')}`,
    // The stage1 has no zoneinfo nor resolver to offer; the apps bring their own /etc.
    '--timezone=off',
    '--resolv-conf=off',
    ...binds,
    ...(debug ? [] : ['--quiet']),
    // Without systemd on the host there is no machined to register with, nor a unit to run the pod in.
    ...(hostRunsSystemd() ? [] : ['--register=no', '--keep-unit']),
    '--',
    // The console is rkt's stdout: systemd keeps quiet there unless debugging.
    ...(debug ? [] : ['--show-status=0', '--log-target=null']),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' };
  if (debug) process.stderr.write(`stage1-systemd run: ${join(stage1, 'lib64/ld-linux-x86-64.so.2')} ${args.join(' ')}\n`);
  const leaveCgroups = enterPodCgroups(uuid);
  const child = spawn(join(stage1, 'lib64/ld-linux-x86-64.so.2'), args, { stdio: ['inherit', 'inherit', 'pipe'], env });
  // nspawn's own stderr, minus the lines QUIET_NSPAWN_LINES names (all of them under --debug).
  const stderrDone = new Promise<void>((resolve) => {
    if (child.stderr === null) return resolve();
    const lines = createInterface({ input: child.stderr });
    lines.on('line', (l) => {
      if (!debug && QUIET_NSPAWN_LINES.some((q) => l.startsWith(q))) return;
      process.stderr.write(`${l}\n`);
    });
    lines.on('close', resolve);
  });
  const nspawnPid = child.pid;
  if (nspawnPid === undefined) throw new Error('could not start systemd-nspawn');
  // rkt's `ppid` way: the pod's PID 1 is nspawn's child, which stage0 and enter find from this pid.
  writeFileSync(join(pod, 'ppid'), `${nspawnPid}\n`);
  // Stop signals to this entrypoint go to nspawn, which shuts the booted systemd down cleanly.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  const status = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal))));
  });
  await stderrDone;
  rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  for (const fd of holders) closeSync(fd);
  await Promise.all(relays);
  // nspawn leaves its payload/ and supervisor/ cgroups behind when it is not registered with machined.
  leaveCgroups();
  if (apps.length === 1) {
    writeFileSync(join(pod, 'appsinfo', (apps[0] as PodApp).name, 'exit'), `${status}\n`);
    return status;
  }
  // The pod's status: the first app (in the pod's order) that failed, else 0; an app without a status
  // never finished (the pod was stopped) and is not recorded.
  let podStatus = 0;
  for (const a of apps) {
    let text: string;
    try {
      text = readFileSync(join(statusDir, a.name), 'utf8').trim();
    } catch {
      continue;
    }
    const appStatus = parseAppStatus(text);
    writeFileSync(join(pod, 'appsinfo', a.name, 'exit'), `${appStatus}\n`);
    if (podStatus === 0 && appStatus !== 0) podStatus = appStatus;
  }
  if (podStatus === 0 && status !== 0 && !apps.every((a) => existsSync(join(statusDir, a.name)))) podStatus = status;
  return podStatus;
}

/**
 * `ExecMainCode ExecMainStatus` as the reaper recorded them: code 1 (CLD_EXITED) with the exit status, or 2
 * and 3 (CLD_KILLED, CLD_DUMPED) with the signal's number, reported as 128 + that number.
 */
function parseAppStatus(text: string): number {
  const m = /^([0-9]+) ([0-9]+)$/.exec(text);
  if (m === null) throw new Error(`unreadable app status ${JSON.stringify(text)}`);
  const [code, value] = [Number(m[1]), Number(m[2])];
  return code === 2 || code === 3 ? 128 + value : value;
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal];
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('run', err),
);
