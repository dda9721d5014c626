// `rkt run` of a busybox `/bin/true` pod through the systemd stage1, against `systemd-nspawn -b` of the
// same stage1 root doing the same thing by hand (boot systemd, run /bin/true as a service in the app's
// root, exit with its status; goal: rkt-ts adds at most 25%; a second by-hand run adds rkt's default
// capability, seccomp and path isolation to that service, to tell the isolation's cost in systemd from
// rkt-ts's own, and a third starts nspawn as rkt's stage1 does for such a pod, without nspawn's own seccomp
// deny-list), and against `podman run --rm --rootfs` and
// `ctr run --rm` of the same rootfs where they are installed (each skipped, with a line, when not).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, ctrRun, has, repoRoot, scratchDir } from './lib.mjs';

const GOAL = 1.25;
const rkt = join(repoRoot, 'bin', 'rkt');
const stage1Aci = join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci');
for (const built of ['packages/stage0-cli/dist/cli.js', 'packages/stage1-systemd/dist/stage1-systemd.aci', 'packages/appc-spec/dist/index.js']) {
  if (!existsSync(join(repoRoot, built))) {
    console.error(`systemd.bench: ${built} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
if (!existsSync('/bin/busybox')) {
  console.error('systemd.bench: /bin/busybox is missing (Debian package busybox-static)');
  process.exit(1);
}
const { buildAciFromLayout } = await import(join(repoRoot, 'packages/appc-spec/dist/index.js'));

const dir = scratchDir('rkt-systemd-bench-');
const layout = join(dir, 'layout');
const rootfs = join(layout, 'rootfs');
mkdirSync(join(rootfs, 'bin'), { recursive: true });
for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(rootfs, d));
copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
symlinkSync('busybox', join(rootfs, 'bin', 'true'));
symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
writeFileSync(
  join(layout, 'manifest'),
  JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'bench/busybox', app: { exec: ['/bin/true'], user: '0', group: '0' } }),
);
const aci = join(dir, 'busybox.aci');
const { imageId } = await buildAciFromLayout(layout, aci);
const data = join(dir, 'data');
const rktArgs = `${rkt} --dir=${data} --insecure-options=image`;

// Imports the image and the stage1 once, so the runs measure running, not importing; the pod it leaves
// names the store's stage1 tree, which the by-hand nspawn boots too.
execFileSync(rkt, [`--dir=${data}`, '--insecure-options=image', 'run', `--stage1-path=${stage1Aci}`, aci], { stdio: 'inherit' });
const firstPod = readdirSync(join(data, 'pods', 'run'))[0];
const stage1Root = realpathSync(join(data, 'pods', 'run', firstPod, 'stage1', 'rootfs'));
const stage1Hash = JSON.parse(execFileSync(rkt, [`--dir=${data}`, 'image', 'list', '--format=json'], { encoding: 'utf8' })).find((i) =>
  String(i.name).includes('stage1-systemd'),
)?.id;

// The isolation rkt's stage1 gives every app by default (rkt's capability bounding set, seccomp filter and
// masked /proc and /sys paths), as the first pod's unit has it: the second by-hand run adds these lines, so
// that the ratio against it is what rkt-ts's own machinery adds, apart from what the isolation costs systemd.
const ISOLATION_KEYS = ['CapabilityBoundingSet', 'AmbientCapabilities', 'NoNewPrivileges', 'SystemCallFilter', 'SystemCallErrorNumber', 'ReadOnlyPaths', 'InaccessiblePaths'];
const isolationLines = readFileSync(join(data, 'pods', 'run', firstPod, 'stage1-units', 'rkt-app-busybox.service'), 'utf8')
  .split('\n')
  .filter((l) => ISOLATION_KEYS.some((k) => l.startsWith(`${k}=`)));
if (isolationLines.length === 0) {
  console.error('systemd.bench: the first pod\'s app unit has none of rkt\'s default isolation lines');
  process.exit(1);
}

// By hand: the least that boots systemd on the stage1 root and runs the app as a service in its own root,
// ending the pod with the app's status (what rkt's stage1 does, without a pod directory, FIFOs, reapers,
// overlay or the pod's own cgroup).
const appService = (extra) => [
    '[Unit]',
    'DefaultDependencies=no',
    'SuccessAction=exit',
    'FailureAction=exit',
    '[Service]',
    'Type=exec',
    'RootDirectory=/opt/stage2/busybox/rootfs',
    'MountAPIVFS=yes',
    'ExecStart=/bin/true',
    'StandardInput=null',
    ...extra,
    '',
  ].join('\n');
const units = join(dir, 'units');
const isolatedUnits = join(dir, 'units-isolated');
for (const [d, extra] of [[units, []], [isolatedUnits, isolationLines]]) {
  mkdirSync(d);
  writeFileSync(join(d, 'app.service'), appService(extra));
  writeFileSync(join(d, 'default.target'), '[Unit]\nDefaultDependencies=no\nWants=app.service\n');
}
const MACHINE = `rkt-bench-${process.pid}`;
const libPath = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu/systemd'].map((d) => join(stage1Root, d)).join(':');
// `root`: the directory nspawn boots; by default the stage1's tree itself, under nspawn's own volatile overlay.
const byHandWith = (unitsDir, env = [], root = undefined) => [
  'env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1',
  ...env,
  join(stage1Root, 'lib64/ld-linux-x86-64.so.2'),
  `--library-path ${libPath}`,
  join(stage1Root, 'usr/bin/systemd-nspawn'),
  '--boot',
  `--directory=${root ?? stage1Root}`,
  ...(root === undefined ? ['--volatile=overlay'] : []),
  `--machine=${MACHINE}`,
  '--link-journal=no',
  `--bind-ro=${unitsDir}:/etc/systemd/system`,
  // Writable: systemd makes the mount points it needs (/run, /var...) in the app's root.
  `--bind=${rootfs}:/opt/stage2/busybox/rootfs`,
  '--timezone=off',
  '--resolv-conf=off',
  '--quiet',
  ...(existsSync('/run/systemd/system') ? [] : ['--register=no', '--keep-unit']),
  '--',
  '--show-status=0',
  '--log-target=null',
].join(' ');
const byHand = byHandWith(units);
const byHandIsolated = byHandWith(isolatedUnits);
// And as rkt's stage1 starts nspawn for such a pod (packages/stage1-systemd/src/stage1-root.ts): the root an
// overlay of the stage1's tree on a tmpfs of the pod's own, mounted before nspawn, which then takes no lock
// on it; without nspawn's own seccomp deny-list, which every app's allow-list makes redundant
// (src/pod-isolation.ts). The row rkt-ts's own work is measured against. A script (hyperfine runs a command
// without `$` directly): mount, boot, unmount, the pod's status kept.
const asRktRoot = join(dir, 'as-rkt-root');
mkdirSync(asRktRoot);
const byHandAsRkt = join(dir, 'as-rkt.sh');
writeFileSync(byHandAsRkt, [
  '#!/bin/sh',
  `r=${asRktRoot}`,
  'mount -t tmpfs -o mode=0755 tmpfs "$r" || exit 1',
  'mkdir "$r/upper" "$r/work" "$r/rootfs"',
  `mount -t overlay -o lowerdir=${stage1Root},upperdir="$r/upper",workdir="$r/work" overlay "$r/rootfs" || { umount "$r"; exit 1; }`,
  `${byHandWith(isolatedUnits, ['SYSTEMD_SECCOMP=0', 'SYSTEMD_NSPAWN_LOCK=0'], '"$r/rootfs"')}`,
  's=$?',
  'umount "$r/rootfs"; umount "$r"',
  'exit $s',
  '',
].join('\n'), { mode: 0o755 });
// A by-hand run must work before it is timed (hyperfine stops on the first failure anyway).
for (const cmd of [byHand, byHandIsolated, byHandAsRkt]) {
  const check = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (check.status !== 0) {
    console.error(`systemd.bench: systemd-nspawn -b by hand failed (${check.status}): ${cmd}`);
    process.exit(1);
  }
}

const commands = [
  { label: 'systemd-nspawn -b (by hand)', cmd: byHand },
  { label: "systemd-nspawn -b (by hand, with rkt's default isolation)", cmd: byHandIsolated },
  { label: "systemd-nspawn -b (by hand, with rkt's isolation, nspawn as rkt starts it)", cmd: byHandAsRkt },
  { label: 'rkt run (systemd)', cmd: `${rktArgs} run ${stage1Hash ? `--stage1-hash=${stage1Hash}` : `--stage1-path=${stage1Aci}`} ${imageId}` },
];

if (!has('podman')) console.log('systemd.bench: podman is not installed: skipped');
else {
  // Host network as rkt's pods. runc: crun refuses this machine's hybrid cgroup layout. Lowered ulimits:
  // setting podman's defaults (or even the current ones) is refused here without CAP_SYS_RESOURCE.
  const podman = `podman run --rm --runtime=runc --network=host --ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024 --rootfs ${rootfs} /bin/true`;
  const r = spawnSync('sh', ['-c', podman], { encoding: 'utf8' });
  if (r.status === 0) commands.push({ label: 'podman run --rm --rootfs', cmd: podman });
  else console.log(`systemd.bench: podman does not run here (${(r.stderr || '').trim().split('\n').pop()}): skipped`);
}

const ctr = await ctrRun(dir, rootfs, 'systemd.bench');
if (ctr !== undefined) commands.push({ label: 'ctr run --rm', cmd: ctr.cmd });

/** nspawn run unregistered leaves empty payload/ and supervisor/ cgroups below the caller's: remove them. */
function removeNspawnCgroups() {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    const root = controllers === '' ? (existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup') : controllers === 'name=systemd' ? '/sys/fs/cgroup/systemd' : undefined;
    if (root === undefined) continue;
    const remove = (d) => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) remove(join(d, e.name));
      try {
        rmdirSync(d);
      } catch {
        // Still populated: left for whoever owns it.
      }
    };
    for (const name of ['payload', 'supervisor']) remove(join(root, path, name));
  }
}

/**
 * Where one `rkt run` spends its time, from the exec times of its processes (strace, execve and exits
 * only, through seccomp so the rest runs untraced): stage0 until it executes the run entrypoint, the
 * entrypoint until nspawn, nspawn until systemd, systemd until the app, the app's end until nspawn exits,
 * and what follows until rkt exits. Medians of a few runs, printed as shares of the whole.
 */
function phases(cmd, runs = 5) {
  if (!has('strace')) {
    console.log('systemd.bench: strace is not installed: no breakdown of rkt run');
    return;
  }
  const names = ['stage0 (node, prepare, overlay, run module)', 'run entrypoint (node, when executed) until nspawn', 'nspawn until systemd', 'systemd boot until the app', 'app until the pod exits', 'after nspawn (stage1, stage0)'];
  const samples = names.map(() => []);
  for (let i = 0; i < runs; i++) {
    const out = join(dir, `strace-${i}.txt`);
    spawnSync('sh', ['-c', `strace -f --seccomp-bpf -qq -e trace=execve,exit_group -ttt -o ${out} ${cmd}`], { stdio: 'ignore' });
    const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    // strace pads a short pid with spaces: the fields are split on runs of them.
    const fields = (l) => l.trim().split(/\s+/);
    const at = (l) => Number(fields(l)[1]);
    const find = (re) => lines.find((l) => re.test(l));
    // stage0 runs the stage1's run module in its own process: no exec of /rkt/run, and its phase is 0
    // (stage0's then runs until nspawn). Executed (an older stage1, or the module unusable), it has one.
    const nspawn = find(/execve\("[^"]*ld-linux-x86-64\.so\.2"/);
    const run = find(/execve\("[^"]*\/rkt\/run"/) ?? nspawn;
    const systemd = find(/execve\("\/lib\/systemd\/systemd"/);
    const app = find(/execve\("\/bin\/true"/);
    if ([run, nspawn, systemd, app].some((l) => l === undefined)) continue;
    const nspawnPid = fields(nspawn)[0];
    const nspawnEnd = lines.filter((l) => fields(l)[0] === nspawnPid).pop();
    const points = [at(lines[0]), at(run), at(nspawn), at(systemd), at(app), at(nspawnEnd), at(lines[lines.length - 1])];
    for (let p = 0; p < names.length; p++) samples[p].push(points[p + 1] - points[p]);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const medians = samples.map(median);
  const total = medians.reduce((a, b) => a + b, 0);
  console.log('\n## where rkt run (systemd) spends its time (strace, execve only; shares of the traced run)');
  console.log('| phase | median | share |');
  console.log('|---|---:|---:|');
  names.forEach((n, p) => console.log(`| ${n} | ${(medians[p] * 1000).toFixed(0)} ms | ${((medians[p] / total) * 100).toFixed(0)}% |`));
}

try {
  phases(commands.find((c) => c.label === 'rkt run (systemd)').cmd);
  // Interleaved (lib.mjs): these rows take 150-250 ms each, and run back to back a row's stretch of the
  // run could come out 20% off the others' on this project's VMs.
  const rows = compare('rkt run (systemd) vs systemd-nspawn -b', commands, { baseline: 'systemd-nspawn -b (by hand)', runs: 21, warmup: 2, interleave: true });
  const r = rows.find((x) => x.label === 'rkt run (systemd)');
  console.log(`rkt run (systemd): ${r.ratio.toFixed(2)}x systemd-nspawn -b by hand (${r.ratio <= GOAL ? 'meets' : 'misses'} the ${GOAL}x goal)`);
  const isolated = rows.find((x) => x.label.includes("rkt's default isolation"));
  console.log(`rkt run (systemd): ${(r.median / isolated.median).toFixed(2)}x systemd-nspawn -b by hand with the same capability, seccomp and path isolation`);
  const asRkt = rows.find((x) => x.label.includes('nspawn as rkt starts it'));
  console.log(`rkt run (systemd): ${(r.median / asRkt.median).toFixed(2)}x the same by hand with nspawn started as rkt starts it (what rkt-ts's own work adds)`);
  for (const other of rows.filter((x) => x.label.startsWith('podman') || x.label.startsWith('ctr'))) {
    console.log(`rkt run (systemd): ${(r.median / other.median).toFixed(2)}x ${other.label}`);
  }
} finally {
  // Every run leaves an exited pod with its app's overlay mounted: gc releases them before the scratch
  // directory is deleted.
  spawnSync(rkt, [`--dir=${data}`, 'gc', '--grace-period=0s'], { stdio: 'ignore' });
  removeNspawnCgroups();
  // Unregistered nspawn cannot remove its propagation directory when /run is not a tmpfs.
  rmSync(`/run/systemd/nspawn/propagate/${MACHINE}`, { recursive: true, force: true });
  ctr?.stop();
}
