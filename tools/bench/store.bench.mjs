// The image store through the built CLI, against the tools a user would otherwise use:
// 1. `rkt fetch` of a ~300 MB gzip ACI into a fresh --dir per run, against
//    `gzip -dc | tee >(sha512sum) | tar -x` (decompress, hash and unpack: what an import does at least);
//    goal: within 1.3x.
// 2. `rkt image render` of that image into a fresh directory, against `tar -x` of the same uncompressed tar.
// 3. `rkt image list` of a store holding 1,000 images, against `rkt version` (start-up); goal: under 1.5x.
// Everything is made in a scratch directory removed at exit. Ratios are medians (tools/bench/lib.mjs).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, repoRoot, scratchDir } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
for (const dist of ['packages/stage0-cli/dist/cli.js', 'packages/image-store/dist/index.js', 'packages/appc-spec/dist/index.js']) {
  if (!existsSync(join(repoRoot, dist))) {
    console.error(`store.bench: ${dist} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
const quick = process.argv.includes('--quick'); // smaller image and fewer runs, to check the bench itself
// Only the listing (3.), which takes seconds where the 300 MB image takes minutes.
const listOnly = process.argv.includes('--list-only');
const work = scratchDir('rkt-store-bench-');
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });

function fetchAndRender() {
  // The image: ~300 MB of incompressible data over 60 files (so gzip keeps it near 300 MB), plus 3,000
  // small text files in 30 directories, the kind of tree a distribution image has.
  const layout = join(work, 'layout');
  const bigFiles = quick ? 6 : 60;
  mkdirSync(join(layout, 'rootfs', 'data'), { recursive: true });
  writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench', labels: [{ name: 'version', value: '1' }] }));
  sh(`cd ${layout}/rootfs/data && for i in $(seq 1 ${bigFiles}); do head -c 5M /dev/urandom > big$i; done`);
  sh(`cd ${layout}/rootfs && for d in $(seq 1 30); do mkdir -p usr/share/d$d; for f in $(seq 1 100); do seq 1 $((f * 20)) > usr/share/d$d/f$f.txt; done; done`);
  const tarFile = join(work, 'image.tar');
  const aci = join(work, 'image.aci');
  sh(`tar --format=pax -C ${layout} -cf ${tarFile} manifest rootfs && gzip -1 -c ${tarFile} > ${aci}`);
  const mb = (f) => (Number(execFileSync('stat', ['-c', '%s', f]).toString()) / 1e6).toFixed(0);
  console.log(`image: ${mb(aci)} MB gzip, ${mb(tarFile)} MB uncompressed`);

  const runs = quick ? 3 : 5;
  /** hyperfine runs `--prepare` without a shell when the commands need none (-N): a script works either way. */
  const script = (name, body) => {
    const f = join(work, name);
    writeFileSync(f, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const fresh = join(work, 'fresh');
  const prepareFresh = script('prepare-fresh.sh', `rm -rf ${fresh} && mkdir -p ${fresh}/x`);
  const fetchRows = compare('store: import a 300 MB gzip ACI', [
    { label: 'gzip -dc | tee >(sha512sum) | tar -x', cmd: `bash -c 'gzip -dc ${aci} | tee >(sha512sum >/dev/null) | tar -x -C ${fresh}/x'` },
    { label: 'rkt fetch', cmd: `${rkt} --dir=${fresh}/data --insecure-options=image fetch ${aci}` },
  ], { runs, warmup: 1, prepare: prepareFresh });

  // Render: one store holding the image; each run renders into a fresh directory.
  const store = join(work, 'store');
  const fetched = spawnSync(rkt, [`--dir=${store}`, '--insecure-options=image', 'fetch', '--full', aci], { encoding: 'utf8' });
  if (fetched.status !== 0) throw new Error(`fetch failed: ${fetched.stderr}`);
  const id = fetched.stdout.trim();
  const out = join(work, 'out');
  const renderRows = compare('store: render the 300 MB image', [
    { label: 'tar -x (uncompressed tar)', cmd: `tar -x -f ${tarFile} -C ${out}` },
    { label: 'rkt image render', cmd: `${rkt} --dir=${store} image render ${id} ${out}` },
  ], { runs, warmup: 1, prepare: script('prepare-out.sh', `rm -rf ${out} && mkdir -p ${out}`) });
  return { fetchRows, renderRows };
}
const { fetchRows, renderRows } = listOnly ? {} : fetchAndRender();

// Listing: 1,000 images imported through the store library in one process (through the CLI it would take
// minutes of start-ups), then listed by the CLI.
const many = join(work, 'many');
const count = quick ? 100 : 1000;
execFileSync(process.execPath, ['--input-type=module', '-e', `
  import { openStore } from ${JSON.stringify(join(repoRoot, 'packages/image-store/dist/index.js'))};
  import { buildAci } from ${JSON.stringify(join(repoRoot, 'packages/appc-spec/dist/index.js'))};
  const store = await openStore({ dir: ${JSON.stringify(many)} });
  for (let i = 0; i < ${count}; i++) {
    const file = ${JSON.stringify(join(work, 'small.aci'))};
    const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app' + (i % 50), labels: [{ name: 'version', value: String(i) }] });
    await buildAci(manifest, [{ type: 'file', path: 'etc/id', data: String(i) }], file, { compression: 'none', overwrite: true });
    await store.importAci(file);
  }
`], { stdio: 'inherit' });
const listed = spawnSync(rkt, [`--dir=${many}`, 'image', 'list', '--no-legend'], { encoding: 'utf8' });
if (listed.status !== 0 || listed.stdout.trimEnd().split('\n').length !== count) throw new Error(`image list failed: ${listed.stderr}`);
const listRows = compare(`store: rkt image list of ${count} images`, [
  { label: 'rkt version', cmd: `${rkt} version` },
  { label: 'rkt image list', cmd: `${rkt} --dir=${many} image list` },
  { label: 'rkt image list --format=json', cmd: `${rkt} --dir=${many} image list --format=json` },
], { runs: 30, warmup: 3 });

const ratio = (rows, label) => rows?.find((r) => r.label === label).ratio;
const summary = [
  ['rkt fetch vs gzip -dc | tee >(sha512sum) | tar -x', ratio(fetchRows, 'rkt fetch'), 1.3],
  ['rkt image render vs tar -x', ratio(renderRows, 'rkt image render'), undefined],
  ['rkt image list vs rkt version', ratio(listRows, 'rkt image list'), 1.5],
];
console.log('\n## store: summary');
for (const [what, r, goal] of summary.filter(([, r]) => r !== undefined)) {
  console.log(`${what}: ${r.toFixed(2)}x${goal === undefined ? '' : ` (goal ${goal}x: ${r <= goal ? 'met' : 'MISSED'})`}`);
}
