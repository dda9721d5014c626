// Image ID of a 500 MB ACI: `appc image-id` (which also validates the layout and the manifest) against the
// bare hashing pipelines a user would otherwise run, in one hyperfine run:
//   plain ACI:  appc image-id x.aci      vs  sha512sum x.aci
//   gzip ACI:   appc image-id x-gz.aci   vs  gzip -dc x-gz.aci | sha512sum
// Goal: within 1.2x of each. The ACIs are built with the built `appc build` from generated files, half random
// (incompressible) and half repetitive text, so gzip has real work on both kinds of data.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, repoRoot, scratchDir } from './lib.mjs';

const appc = join(repoRoot, 'bin', 'appc');
const dist = join(repoRoot, 'packages', 'appc-spec', 'dist', 'cli', 'appc.js');
if (!existsSync(dist)) {
  console.error(`image-id.bench: ${dist} is not built; run "npm run build" first`);
  process.exit(1);
}

const GOAL = 1.2;
const FILE_MB = 10;
const FILES = 50; // 500 MB
const dir = scratchDir('rkt-bench-image-id-');
const layout = join(dir, 'layout');
mkdirSync(join(layout, 'rootfs', 'data'), { recursive: true });
writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench' }));
for (let i = 0; i < FILES; i++) {
  const path = join(layout, 'rootfs', 'data', `f${String(i).padStart(3, '0')}`);
  if (i % 2 === 0) {
    writeFileSync(path, randomBytes(FILE_MB << 20));
  } else {
    const line = Buffer.from(`${i}: the quick brown fox jumps over the lazy dog ${randomBytes(8).toString('hex')}\n`);
    writeFileSync(path, Buffer.alloc(FILE_MB << 20, line));
  }
}
const plain = join(dir, 'bench.aci');
const gz = join(dir, 'bench-gz.aci');
execFileSync(appc, ['build', '--compression=none', layout, plain], { stdio: 'inherit' });
execFileSync(appc, ['build', '--compression=gzip', layout, gz], { stdio: 'inherit' });
const mb = (p) => `${(statSync(p).size / 1e6).toFixed(0)} MB`;
console.log(`plain ACI ${mb(plain)}, gzip ACI ${mb(gz)}`);

// Same answer first, or the timings mean nothing.
const want = `sha512-${execFileSync('sha512sum', [plain], { encoding: 'utf8' }).split(' ')[0]}`;
for (const f of [plain, gz]) {
  const got = execFileSync(appc, ['image-id', f], { encoding: 'utf8' }).trim();
  if (got !== want) {
    console.error(`image-id.bench: appc image-id ${f} printed ${got}, sha512sum says ${want}`);
    process.exit(1);
  }
}

const rows = compare(
  'image ID of a 500 MB ACI',
  [
    { label: 'sha512sum (plain)', cmd: `sha512sum ${plain}` },
    { label: 'appc image-id (plain)', cmd: `${appc} image-id ${plain}` },
    { label: 'gzip -dc | sha512sum', cmd: `gzip -dc ${gz} | sha512sum` },
    { label: 'appc image-id (gzip)', cmd: `${appc} image-id ${gz}` },
  ],
  { baseline: 'sha512sum (plain)', runs: 5, warmup: 1 },
);
const median = (label) => rows.find((r) => r.label === label).median;
let missed = 0;
for (const [ours, theirs] of [
  ['appc image-id (plain)', 'sha512sum (plain)'],
  ['appc image-id (gzip)', 'gzip -dc | sha512sum'],
]) {
  const ratio = median(ours) / median(theirs);
  const verdict = ratio <= GOAL ? 'meets' : 'misses';
  if (ratio > GOAL) missed++;
  console.log(`${ours}: ${ratio.toFixed(2)}x ${theirs} (${verdict} the ${GOAL}x goal)`);
}
process.exitCode = missed === 0 ? 0 : 1;
