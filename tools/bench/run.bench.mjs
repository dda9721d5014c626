// `rkt run` of a busybox `/bin/true` pod through the fly stage1, against Node's floor (`node -e 0`, the
// goal is within 1.5x of it), a bare `unshare -m` + `chroot` of the same rootfs (the kernel's floor),
// and runc / containerd's ctr when installed. Runs the built CLI through bin/rkt, as a user would.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, ctrRun, fileCreationMicros, has, repoRoot, scratchDir, settleFileCreation } from './lib.mjs';

const GOAL = 1.5;
const rkt = join(repoRoot, 'bin', 'rkt');
for (const built of ['packages/stage0-cli/dist/cli.js', 'packages/stage1-fly/dist/stage1-fly.aci', 'packages/appc-spec/dist/index.js']) {
  if (!existsSync(join(repoRoot, built))) {
    console.error(`run.bench: ${built} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
if (!existsSync('/bin/busybox')) {
  console.error('run.bench: /bin/busybox is missing (Debian package busybox-static)');
  process.exit(1);
}
const { buildAciFromLayout } = await import(join(repoRoot, 'packages/appc-spec/dist/index.js'));

const dir = scratchDir('rkt-run-bench-');
const layout = join(dir, 'layout');
const rootfs = join(layout, 'rootfs');
mkdirSync(join(rootfs, 'bin'), { recursive: true });
for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(rootfs, d));
copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
symlinkSync('busybox', join(rootfs, 'bin', 'true'));
symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
writeFileSync(
  join(layout, 'manifest'),
  JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'bench/busybox', app: { exec: ['/bin/true'], user: '0', group: '0' } }),
);
const aci = join(dir, 'busybox.aci');
const { imageId } = await buildAciFromLayout(layout, aci);
const data = join(dir, 'data');
const rktArgs = `${rkt} --dir=${data} --insecure-options=image`;
// Imports the image and the stage1 once, so the runs measure running, not importing.
const flyAci = join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci');
execFileSync(rkt, [`--dir=${data}`, '--insecure-options=image', 'run', `--stage1-path=${flyAci}`, aci], { stdio: 'inherit' });

// A file rather than `node -e`: a command with quotes and parentheses would need a shell, whose start-up
// hyperfine then subtracts from every command.
const floorScript = join(dir, 'floor.cjs');
writeFileSync(floorScript, "process.exitCode = require('node:child_process').spawnSync('unshare', ['-m', 'chroot', process.argv[2], '/bin/true']).status;\n");

// As the issue states the goal: both images given as files (each found in the store again by path,
// size and mtime), and the stage1 by name once it is in the store.
const commands = [
  { label: 'node -e 0', cmd: `${process.execPath} -e 0` },
  { label: 'rkt run (fly)', cmd: `${rktArgs} run --stage1-path=${flyAci} ${aci}` },
  { label: 'rkt run --stage1-name (fly)', cmd: `${rktArgs} run --stage1-name=coreos.com/rkt/stage1-fly ${imageId}` },
  // Not the goal: the same pod with the flags users give most (an app override, its environment, a
  // read-only host volume, an isolator fly applies), which once loaded zod and ran mount(8) (98 and 140 ms).
  {
    label: 'rkt run (fly) with --exec, --set-env, --oom-score-adj, --volume, --mount',
    cmd: `${rktArgs} run --stage1-path=${flyAci} --volume=v,kind=host,source=${layout},readOnly=true --mount=volume=v,target=/mnt ${aci} --exec=/bin/true --set-env=A=B --oom-score-adj=100`,
  },
  { label: 'unshare -m chroot', cmd: `unshare -m chroot ${rootfs} /bin/true` },
  // The floor of any runtime written for Node: Node's start, child_process, and one container process
  // waited for (no pod directory, lock, overlay or stage1).
  { label: 'node: child_process + unshare -m chroot', cmd: `${process.execPath} ${floorScript} ${rootfs}` },
];
if (has('runc')) {
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const specPath = join(bundle, 'config.json');
  const spec = JSON.parse(execFileSync('cat', [specPath], { encoding: 'utf8' }));
  spec.root = { path: rootfs, readonly: true };
  spec.process.args = ['/bin/true'];
  spec.process.terminal = false;
  writeFileSync(specPath, JSON.stringify(spec));
  // A container ID without `$$`: a command with `$` runs through a shell, and hyperfine then subtracts
  // the shell's start-up (tens of ms under load) from every command, `unshare` came out as 0 ms.
  commands.push({ label: 'runc run', cmd: `runc run --bundle ${bundle} bench-${process.pid}` });
  // crun, the fastest OCI runtime, on the same bundle: only where it runs here (it refused some machines'
  // hybrid cgroup layouts, systemd.bench.mjs).
  if (has('crun')) {
    const cmd = `crun run --bundle ${bundle} bench-crun-${process.pid}`;
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    if (r.status === 0) commands.push({ label: 'crun run', cmd });
    else console.log(`run.bench: crun run does not work here (${(r.stderr || '').trim().split('\n').pop()}): skipped`);
  }
}
// containerd's client, as the issue asks: the host's containerd, or one started for the bench.
const ctr = await ctrRun(dir, rootfs, 'run.bench');
if (ctr !== undefined) commands.push({ label: 'ctr run --rm', cmd: ctr.cmd });

try {
  // Interleaved (lib.mjs), as the systemd bench: a drift of the machine then lands on every row alike.
  settleFileCreation(dir);
  const rows = compare('rkt run (fly) vs node -e 0', commands, { baseline: 'node -e 0', runs: 21, warmup: 3, interleave: true, settle: 0.15 });
  for (const r of rows.filter((x) => x.label.startsWith('rkt run') && !x.label.includes(' with '))) {
    console.log(
      `${r.label}: ${r.ratio.toFixed(2)}x node -e 0 in wall time (${r.ratio <= GOAL ? 'meets' : 'misses'} the ${GOAL}x goal), ` +
        `${r.cpuRatio.toFixed(2)}x in CPU time (${(r.cpu * 1000).toFixed(1)} ms)`,
    );
  }
  // The ctr row removes files in the scratch directory on every run (its container's snapshot and state).
  console.log(`file creation in the scratch directory after the runs: ${fileCreationMicros(dir).toFixed(0)} us a file`);
  const floor = rows.find((x) => x.label.startsWith('node: child_process'));
  console.log(`node: child_process + unshare -m chroot (the floor of a Node runtime): ${floor.ratio.toFixed(2)}x node -e 0`);
  const fly = rows.find((x) => x.label === 'rkt run (fly)');
  const flags = rows.find((x) => x.label.startsWith('rkt run (fly) with '));
  console.log(`${flags.label}: ${(flags.median / fly.median).toFixed(2)}x rkt run (fly) without them`);
  for (const other of rows.filter((x) => x.label.startsWith('runc') || x.label.startsWith('crun') || x.label.startsWith('ctr'))) {
    console.log(`rkt run (fly): ${(fly.median / other.median).toFixed(2)}x ${other.label}`);
  }
} finally {
  // Every run leaves an exited pod with its rootfs mounted: gc unmounts and removes them before the
  // scratch directory is deleted.
  spawnSync(rkt, [`--dir=${data}`, 'gc', '--grace-period=0s'], { stdio: 'ignore' });
  ctr?.stop();
}
