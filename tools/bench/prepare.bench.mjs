// Preparing (and running) a pod from a ~300 MB image with overlay and with `--no-overlay`, against a small
// image with overlay: the goal is that with overlay the cost does not depend on the image's size.
// `rkt prepare` renders the tree (found in the store after the first time) and writes the pod; the app's
// rootfs (an overlay mount, or a copy with --no-overlay) is set up by `rkt run`, just before stage1 starts,
// so the rootfs cost shows in the `rkt run` rows. Each image is generated, imported and rendered once;
// before every timed run, `rkt gc` removes the pods of the previous runs (unmounting their rootfs), and
// the end removes every pod and checks that no mount is left under the scratch directory, even on failure.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, repoRoot, scratchDir } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
for (const built of ['packages/stage0-cli/dist/cli.js', 'packages/stage1-fly/dist/stage1-fly.aci', 'packages/stage1-systemd/dist/stage1-systemd.aci', 'packages/appc-spec/dist/index.js']) {
  if (!existsSync(join(repoRoot, built))) {
    console.error(`prepare.bench: ${built} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
if (!existsSync('/bin/busybox')) {
  console.error('prepare.bench: /bin/busybox is missing (Debian package busybox-static)');
  process.exit(1);
}
const quick = process.argv.includes('--quick'); // a 30 MB image and fewer runs, to check the bench itself
const { buildAciFromLayout } = await import(join(repoRoot, 'packages/appc-spec/dist/index.js'));
const work = scratchDir('rkt-prepare-bench-');
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });

/** A busybox image running /bin/true; `bigFiles` files of 5 MB of random data and 3,000 small ones when > 0. */
async function image(name, bigFiles) {
  const layout = join(work, name);
  const rootfs = join(layout, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(rootfs, d));
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  symlinkSync('busybox', join(rootfs, 'bin', 'true'));
  if (bigFiles > 0) {
    mkdirSync(join(rootfs, 'data'));
    sh(`cd ${rootfs}/data && for i in $(seq 1 ${bigFiles}); do head -c 5M /dev/urandom > big$i; done`);
    sh(`cd ${rootfs} && for d in $(seq 1 30); do mkdir -p usr/share/d$d; for f in $(seq 1 100); do seq 1 $((f * 20)) > usr/share/d$d/f$f.txt; done; done`);
  }
  writeFileSync(join(layout, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name: `bench/${name}`, app: { exec: ['/bin/true'], user: '0', group: '0' },
  }));
  const aci = join(work, `${name}.aci`);
  const { imageId } = await buildAciFromLayout(layout, aci);
  return { aci, imageId };
}

const data = join(work, 'data');
const base = `${rkt} --dir=${data}`;
const gcAll = [`--dir=${data}`, 'gc', '--grace-period=0s', '--expire-prepared=0s'];

/** Mount points at or under the scratch directory (none should outlive a gc). */
function leftoverMounts() {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m) => m !== undefined && (m === work || m.startsWith(`${work}/`)));
}

try {
  const small = await image('small', 0);
  const big = await image('big', quick ? 6 : 60);
  const mb = (f) => (Number(execFileSync('stat', ['-c', '%s', f]).toString()) / 1e6).toFixed(0);
  console.log(`images: small ${mb(small.aci)} MB, big ${mb(big.aci)} MB`);
  // Imports each image and the stage1 and renders their trees once, so the runs measure preparing, not importing.
  for (const { aci } of [small, big]) execFileSync(rkt, [`--dir=${data}`, '--insecure-options=image', 'prepare', aci], { stdio: ['ignore', 'ignore', 'inherit'] });

  const runs = quick ? 3 : 10;
  const prepare = `${rkt} ${gcAll.join(' ')}`;
  const rows = [
    ...compare('prepare: small image vs 300 MB image, overlay and --no-overlay', [
      { label: 'rkt prepare (small, overlay)', cmd: `${base} prepare ${small.imageId}` },
      { label: 'rkt prepare (300 MB, overlay)', cmd: `${base} prepare ${big.imageId}` },
      { label: 'rkt prepare --no-overlay (300 MB)', cmd: `${base} prepare --no-overlay ${big.imageId}` },
    ], { runs, warmup: 1, prepare }),
    ...compare('run: small image vs 300 MB image, overlay and --no-overlay', [
      { label: 'rkt run (small, overlay)', cmd: `${base} run ${small.imageId}` },
      { label: 'rkt run (300 MB, overlay)', cmd: `${base} run ${big.imageId}` },
      { label: 'rkt run --no-overlay (300 MB)', cmd: `${base} run --no-overlay ${big.imageId}` },
    ], { runs, warmup: 1, prepare }),
  ];
  const ratio = (a, b) => rows.find((r) => r.label === a).median / rows.find((r) => r.label === b).median;
  console.log(`\nprepare, 300 MB / small, overlay: ${ratio('rkt prepare (300 MB, overlay)', 'rkt prepare (small, overlay)').toFixed(2)}x`);
  console.log(`run, 300 MB / small, overlay: ${ratio('rkt run (300 MB, overlay)', 'rkt run (small, overlay)').toFixed(2)}x (goal: about 1x)`);
  console.log(`run, 300 MB --no-overlay / overlay: ${ratio('rkt run --no-overlay (300 MB)', 'rkt run (300 MB, overlay)').toFixed(2)}x`);
} finally {
  // gc unmounts and deletes every pod (prepared ones too: --expire-prepared=0s) before the scratch
  // directory is removed at exit; a mount it missed is detached here so that removal never crosses into it.
  if (existsSync(data)) spawnSync(rkt, gcAll, { stdio: ['ignore', 'ignore', 'inherit'] });
  const left = leftoverMounts();
  for (const m of left.reverse()) spawnSync('umount', ['-l', m], { stdio: 'inherit' });
  if (left.length > 0) {
    console.error(`prepare.bench: gc left ${left.length} mount(s) under ${work}: ${left.join(', ')}`);
    process.exitCode = 1;
  }
}
