// `rkt fetch docker://` of a ~300 MB image (3 gzip layers) from a real Debian `docker-registry` on 127.0.0.1 over
// plain http (download, check every digest and diff_id, convert to one squashed ACI, import, render; an empty
// store each round), against the same pull done by hand with native tools: `curl` of the manifest, the config
// and each blob (the blobs 3 at once, as docker and rkt download them), `sha256sum` of each blob, then `gzip -dc |
// tar -x` of the layers in order into one directory. rkt does more than that (it writes the ACI, hashes it,
// stores it and renders it), so the ratio says what that costs; no goal is set.
// `node tools/bench/docker.bench.mjs [--quick] [--against=PATH]`, or through run.mjs. The image's layers are
// built once into a cache directory ($TMPDIR/rkt-bench-cache, kept between runs; `--quick`: a small image);
// the registry's storage and every run's files are in a scratch directory removed at exit. `--against=PATH`:
// also times the rkt at PATH (another build's bin/rkt), in the same run.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, repoRoot, scratchDir, settleFileCreation } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
for (const dist of ['packages/stage0-cli/dist/cli.js', 'packages/fetcher/dist/index.js']) {
  if (!existsSync(join(repoRoot, dist))) {
    console.error(`docker.bench: ${dist} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
const REGISTRY = '/usr/bin/docker-registry';
if (!existsSync(REGISTRY)) {
  console.log('docker.bench: docker-registry is not installed (Debian package docker-registry): skipped');
  process.exit(0);
}
const quick = process.argv.includes('--quick');
const against = process.argv.find((a) => a.startsWith('--against='))?.slice('--against='.length);
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// The layers, built once: (1) 100 MB of incompressible data in 2 MB files (as packed assets are), (2) 130 MB of
// real binaries and libraries from this host's /usr/bin and /usr/lib (about 3x compressible), (3) about 60 MB
// of compressible text in 3,000 small files and 20 big ones. gzip at its default level, as `docker push` writes layers.
const cache = join(tmpdir(), 'rkt-bench-cache', `docker-v1${quick ? '-quick' : ''}`);
if (!existsSync(join(cache, 'done'))) {
  rmSync(cache, { recursive: true, force: true });
  const build = `${cache}.build-${process.pid}`;
  mkdirSync(build, { recursive: true });
  const n = quick ? 5 : 50;
  console.log(`docker.bench: building the image's layers once into ${cache}`);
  sh(`set -e; cd ${build}; mkdir -p l1/opt/data l2/usr l3/usr/share/doc-bench
    for i in $(seq 1 ${n}); do head -c 2M /dev/urandom > l1/opt/data/blob$i; done
    find /usr/bin /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -size -20M -printf '%s %p\n' | sort -k2 | awk '{ t += $1; if (t > ${quick ? 10 : 130} * 1048576) exit; print $2 }' > l2.list
    tar -c -T l2.list -f - 2>/dev/null | tar -x -C l2; rm l2.list
    for d in $(seq 1 30); do mkdir -p l3/usr/share/doc-bench/d$d; for f in $(seq 1 100); do seq 1 $((f * 20)) > l3/usr/share/doc-bench/d$d/f$f.txt; done; done
    for i in $(seq 1 ${quick ? 2 : 20}); do seq $((i * 1000000)) $((i * 1000000 + 300000)) > l3/usr/share/doc-bench/big$i.txt; done
    for l in l1 l2 l3; do tar --sort=name --numeric-owner --owner=0 --group=0 -C $l -c . > $l.tar; sha256sum $l.tar | cut -d' ' -f1 > $l.diffid; gzip -n $l.tar; rm -rf $l; done`);
  renameSync(build, cache);
  writeFileSync(join(cache, 'done'), '');
}
const layers = ['l1', 'l2', 'l3'].map((l) => ({
  gz: join(cache, `${l}.tar.gz`),
  diffId: `sha256:${readFileSync(join(cache, `${l}.diffid`), 'utf8').trim()}`,
}));
for (const l of layers) l.digest = sha256(readFileSync(l.gz));
const gzBytes = layers.reduce((a, l) => a + Number(execFileSync('stat', ['-c', '%s', l.gz]).toString()), 0);
const tarBytes = layers.reduce((a, l) => a + Number(execFileSync('bash', ['-c', `gzip -l ${l.gz} | tail -1 | awk '{print $2}'`]).toString()), 0);
console.log(`image: 3 gzip layers, ${(gzBytes / 1e6).toFixed(0)} MB gzip, ${(tarBytes / 1e6).toFixed(0)} MB of tar`);

// A registry of its own, its storage in the scratch directory; the image pushed with curl.
const work = scratchDir('rkt-docker-bench-');
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const host = `127.0.0.1:${port}`;
writeFileSync(join(work, 'config.yml'), ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:',
  '  filesystem:', `    rootdirectory: ${join(work, 'storage')}`, 'http:', `  addr: ${host}`, '  secret: rkt-bench'].join('\n') + '\n');
const registry = spawn(REGISTRY, ['serve', join(work, 'config.yml')], { stdio: 'ignore' });
process.on('exit', () => registry.kill('SIGKILL'));
const curl = (args) => execFileSync('curl', ['-sSf', ...args], { encoding: 'utf8' });
for (let i = 0; ; i++) {
  if (spawnSync('curl', ['-sf', '-o', '/dev/null', `http://${host}/v2/`]).status === 0) break;
  if (i > 150) throw new Error('docker.bench: docker-registry did not start');
  await new Promise((r) => setTimeout(r, 100));
}
const push = (file, digest) => {
  const location = curl(['-X', 'POST', '-D', '-', '-o', '/dev/null', `http://${host}/v2/bench/big/blobs/uploads/`])
    .split('\r\n').find((h) => /^location:/i.test(h)).replace(/^location:\s*/i, '');
  const url = new URL(location, `http://${host}`);
  url.searchParams.set('digest', digest);
  curl(['-X', 'PUT', '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, '-o', '/dev/null', url.href]);
};
for (const l of layers) push(l.gz, l.digest);
const config = Buffer.from(JSON.stringify({
  architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z',
  config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/usr/bin/true'] },
  rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
}));
writeFileSync(join(work, 'config.json'), config);
const configDigest = sha256(config);
push(join(work, 'config.json'), configDigest);
const manifestType = 'application/vnd.docker.distribution.manifest.v2+json';
writeFileSync(join(work, 'manifest.json'), JSON.stringify({
  schemaVersion: 2, mediaType: manifestType,
  config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
  layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: Number(execFileSync('stat', ['-c', '%s', l.gz]).toString()), digest: l.digest })),
}));
curl(['-X', 'PUT', '-H', `content-type: ${manifestType}`, '--data-binary', `@${join(work, 'manifest.json')}`, '-o', '/dev/null', `http://${host}/v2/bench/big/manifests/v1`]);
const image = `docker://${host}/bench/big:v1`;

// One fetch outside the timing, to check that it works.
const check = spawnSync(rkt, [`--dir=${join(work, 'check')}`, '--insecure-options=image,http', 'fetch', image], { encoding: 'utf8' });
if (check.status !== 0 || !/^sha512-/.test(check.stdout)) throw new Error(`rkt fetch failed: ${check.stderr}`);

// By hand: the manifest and the config, the 3 blobs at once, their sha256, then each layer inflated and
// extracted in order (a later layer's files over an earlier one's, as a pull applies them; whiteouts aside).
const fresh = join(work, 'fresh');
const byHand = join(work, 'by-hand.sh');
const blob = (l) => `http://${host}/v2/bench/big/blobs/${l.digest}`;
writeFileSync(byHand, `#!/bin/bash
set -euo pipefail
x=${fresh}/x
curl -sSf -H 'accept: ${manifestType}' -o $x/manifest.json http://${host}/v2/bench/big/manifests/v1
curl -sSf -o $x/config.json http://${host}/v2/bench/big/blobs/${configDigest}
${layers.map((l, i) => `curl -sSf -o $x/l${i} ${blob(l)} &`).join('\n')}
wait
sha256sum $x/l0 $x/l1 $x/l2 > $x/sums
mkdir $x/rootfs
for i in 0 1 2; do gzip -dc $x/l$i | tar -x -C $x/rootfs --numeric-owner --same-owner --preserve-permissions; done
`, { mode: 0o755 });

// Every run writes into a directory of its own and nothing is removed before the bench ends (see
// fetch.bench.mjs: new inodes are slow to make where many were just freed); `sync -f` writes the last run's
// files out before the clock starts.
const prepare = join(work, 'prepare.sh');
writeFileSync(prepare, `#!/bin/sh\nset -e\nd=${join(work, 'runs')}/$(date +%s%N)\nmkdir -p $d/x\nln -sfn $d ${fresh}\nsync -f ${work}\n`, { mode: 0o755 });
settleFileCreation(work);
const rows = compare(`docker: rkt fetch of a ${(gzBytes / 1e6).toFixed(0)} MB 3-layer docker image from a local registry`, [
  { label: 'by hand: curl (3 blobs at once) && sha256sum && gzip -dc | tar -x of each layer', cmd: byHand },
  { label: 'rkt fetch docker:// (pull, convert, import, render)', cmd: `${rkt} --dir=${fresh}/data --insecure-options=image,http fetch ${image}` },
  ...(against === undefined ? [] : [{ label: `rkt fetch docker://, ${against}`, cmd: `${against} --dir=${fresh}/data --insecure-options=image,http fetch ${image}` }]),
], { runs: quick ? 3 : 5, warmup: 1, prepare, interleave: true });

registry.kill('SIGKILL');
console.log('\n## docker: summary');
for (const r of rows.slice(1)) console.log(`${r.label} vs by hand: ${r.ratio.toFixed(2)}x`);
for (const r of rows) console.log(`CPU (user + system, mean): ${r.label}: ${r.cpu.toFixed(2)} s`);
