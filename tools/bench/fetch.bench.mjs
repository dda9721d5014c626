// `rkt fetch` of a ~300 MB signed gzip ACI from a local HTTPS server on 127.0.0.1 (download, signature check,
// import, render; a fresh --dir per run), against what a user would do by hand: `curl` the image and its
// signature to disk, then `gpg --verify` it. Goal (issue 6): within 1.5x of those two together. A second
// reference does everything rkt does (inflate, image ID, blob, extraction, flush) with native tools in one
// streaming pipeline: rkt's ratio to it says how much of the gap is rkt's own overhead.
// `node tools/bench/fetch.bench.mjs [--quick] [--against=PATH]`, or through run.mjs, which passes options on.
// The server is a separate node process; TLS is checked on both sides against a CA made here (curl
// --cacert, rkt's certs.d), and rkt trusts the signing key through `rkt trust`. Everything is made in a
// scratch directory removed at exit. Ratios are medians (tools/bench/lib.mjs). `--quick`: a small image.
// `--against=PATH`: also times the rkt at PATH (another build's bin/rkt, e.g. a copy of the CLI's dist taken
// before a change), in the same run, so that two versions are compared under the same load.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, repoRoot, scratchDir, settleFileCreation } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
for (const dist of ['packages/stage0-cli/dist/cli.js', 'packages/fetcher/dist/index.js', 'packages/image-store/dist/index.js']) {
  if (!existsSync(join(repoRoot, dist))) {
    console.error(`fetch.bench: ${dist} is not built; run "npm run build" first`);
    process.exit(1);
  }
}
const quick = process.argv.includes('--quick');
const against = process.argv.find((a) => a.startsWith('--against='))?.slice('--against='.length);
const work = scratchDir('rkt-fetch-bench-');
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });

// The image, as in store.bench.mjs: incompressible data over 60 files (gzip keeps it near 300 MB) and 3,000
// small text files in 30 directories.
const layout = join(work, 'layout');
const site = join(work, 'site');
mkdirSync(join(layout, 'rootfs', 'data'), { recursive: true });
mkdirSync(site);
writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench', labels: [{ name: 'version', value: '1' }] }));
sh(`cd ${layout}/rootfs/data && for i in $(seq 1 ${quick ? 6 : 60}); do head -c 5M /dev/urandom > big$i; done`);
sh(`cd ${layout}/rootfs && for d in $(seq 1 30); do mkdir -p usr/share/d$d; for f in $(seq 1 100); do seq 1 $((f * 20)) > usr/share/d$d/f$f.txt; done; done`);
const aci = join(site, 'bench.aci');
sh(`tar --format=pax -C ${layout} -c manifest rootfs | gzip -1 > ${aci}`);
console.log(`image: ${(Number(execFileSync('stat', ['-c', '%s', aci]).toString()) / 1e6).toFixed(0)} MB gzip`);

// The signing key, in a private gpg home; the detached armored signature rkt looks for at URL.asc.
const gnupg = join(work, 'gnupg');
mkdirSync(gnupg, { mode: 0o700 });
const gpg = (args) => execFileSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
gpg(['--quick-gen-key', 'Bench Signer <bench@example.com>', 'ed25519', 'sign', 'never']);
gpg(['--armor', '--detach-sign', '--output', `${aci}.asc`, aci]);
const pubkey = join(work, 'bench.pub.asc');
writeFileSync(pubkey, gpg(['--armor', '--export', 'bench@example.com']));
// Signing started a gpg-agent for this home; verifying needs none (--no-autostart below). Stopped now, or it
// would outlive the bench and keep its socket in the scratch directory.
execFileSync('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent']);

// TLS: a CA and a certificate for 127.0.0.1.
const tls = join(work, 'tls');
mkdirSync(tls);
sh(`cd ${tls} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=rkt-ts bench CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null`
  + ` && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null`
  + ` && printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf`
  + ` && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null`);

// A static HTTPS file server in its own process (so serving does not share a CPU queue with this script).
const server = spawn(process.execPath, ['--input-type=module', '-e', `
  import { createServer } from 'node:https';
  import { createReadStream, readFileSync, statSync } from 'node:fs';
  import { join, normalize } from 'node:path';
  const root = ${JSON.stringify(site)};
  const s = createServer({ cert: readFileSync(${JSON.stringify(join(tls, 'srv.pem'))}), key: readFileSync(${JSON.stringify(join(tls, 'srv.key'))}) }, (req, res) => {
    const file = join(root, normalize(new URL(req.url, 'https://x').pathname));
    let size;
    try { size = statSync(file).size; } catch { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
  process.stdin.on('end', () => process.exit(0)).resume();
`], { stdio: ['pipe', 'pipe', 'inherit'] });
process.on('exit', () => server.kill('SIGKILL'));
const port = await new Promise((resolve, reject) => {
  server.once('exit', (code) => reject(new Error(`the bench server exited (${code})`)));
  server.stdout.setEncoding('utf8').once('data', (s) => resolve(Number(s.trim())));
});
const url = `https://127.0.0.1:${port}/bench.aci`;

// rkt's configuration: the CA in certs.d, the key trusted for the image's name.
const etc = join(work, 'etc');
mkdirSync(join(etc, 'certs.d'), { recursive: true });
writeFileSync(join(etc, 'certs.d', 'bench-ca.pem'), readFileSync(join(tls, 'ca.pem')));
const trusted = spawnSync(rkt, [`--local-config=${etc}`, 'trust', '--prefix=example.com/bench', '--skip-fingerprint-review', pubkey], { encoding: 'utf8' });
if (trusted.status !== 0) throw new Error(`rkt trust failed: ${trusted.stderr}`);

// One fetch outside the timing, to check it works and renders.
const fresh = join(work, 'fresh');
const check = spawnSync(rkt, [`--dir=${join(work, 'check')}`, `--local-config=${etc}`, 'fetch', '--full', url], { encoding: 'utf8' });
if (check.status !== 0 || !/^signature verified:/.test(check.stderr)) throw new Error(`rkt fetch failed: ${check.stderr}`);
const rendered = spawnSync(process.execPath, ['--input-type=module', '-e', `
  import { openStore } from ${JSON.stringify(join(repoRoot, 'packages/image-store/dist/index.js'))};
  const trees = await (await openStore({ dir: ${JSON.stringify(join(work, 'check'))} })).trees();
  process.stdout.write(String(trees.filter((t) => t.imageId === ${JSON.stringify(check.stdout.trim())}).length));
`], { encoding: 'utf8' });
if (rendered.stdout !== '1') throw new Error(`rkt fetch did not render the image: ${rendered.stdout}${rendered.stderr}`);
// Kept until the bench ends, as every run's files are (below).

// The same work by hand, the floor for what rkt does: the image streamed once through `tee` to disk, inflated,
// `tee`d to the uncompressed blob, to GNU tar and to a SHA-512 (the image ID); then `gpg --verify` of the
// downloaded file and one `sync -f` (the store makes its blob and tree durable before it records them). tar
// extracts the rootfs with the store's flags from a FIFO, so that its exit status counts (`-B`: a FIFO is not
// stdin, where tar reads whole records by itself; `tee -p`: tar stops reading at the archive's end). The
// fastest tools at hand, or it would not be a floor: GNU gzip -d took 2.1 s of CPU for this image and coreutils
// sha512sum 1.35 s, against 0.3 s for zlib (what rkt inflates with; driven by python3 here) and 0.85 s for
// OpenSSL's SHA-512 (what rkt hashes with).
const inflate = `python3 -c 'import sys, zlib
d = zlib.decompressobj(31); i = sys.stdin.buffer; o = sys.stdout.buffer
for b in iter(lambda: i.read(1 << 20), b""): o.write(d.decompress(b))
o.write(d.flush())'`;
const byHand = join(work, 'by-hand.sh');
writeFileSync(byHand, `#!/bin/bash
set -euo pipefail
x=${fresh}/x
curl -sSf --cacert ${join(tls, 'ca.pem')} -o $x/bench.aci.asc ${url}.asc
mkdir $x/tree
mkfifo $x/tar.fifo
tar -x -B -f $x/tar.fifo -C $x/tree --numeric-owner --preserve-permissions --xattrs '--xattrs-include=*' --same-owner rootfs &
curl -sSf --cacert ${join(tls, 'ca.pem')} ${url} | tee $x/bench.aci | ${inflate} | tee -p $x/blob $x/tar.fifo | openssl dgst -sha512 > $x/id
wait $!
gpg --homedir ${gnupg} --batch --quiet --no-autostart --verify $x/bench.aci.asc $x/bench.aci 2>/dev/null
sync -f $x
`, { mode: 0o755 });

// Every run writes into a directory of its own (`fresh` is a link to it) and nothing is removed before the bench
// ends. This VM's root filesystem is ext4 without a journal, where a new inode skips, one by one, the free ones
// freed in about the last five minutes (the kernel's `recently_deleted`; `sync` does not shorten it). Removing
// the last run's tree of 3,000 files right before the next run made each new file of that run cost 0.2-0.5 ms,
// about 1 s of CPU for the image's tree, paid by rkt and the by-hand row: a cost of the bench, not of what it
// measures (3,000 empty files in one directory: 45-75 ms where nothing was removed for five minutes, 0.5-1.8 s
// right after 3,000 were). `sync -f` writes the last run's files out before the clock starts, so that their
// writeback does not land in the next run's time.
const prepare = join(work, 'prepare.sh');
writeFileSync(prepare, `#!/bin/sh\nset -e\nd=${join(work, 'runs')}/$(date +%s%N)\nmkdir -p $d/x\nln -sfn $d ${fresh}\nsync -f ${work}\n`, { mode: 0o755 });
settleFileCreation(work);
const rows = compare('fetch: a 300 MB signed gzip ACI over https', [
  {
    label: 'curl (image + signature) && gpg --verify',
    cmd: `curl -sSf --cacert ${join(tls, 'ca.pem')} -o ${fresh}/x/bench.aci ${url} -o ${fresh}/x/bench.aci.asc ${url}.asc && gpg --homedir ${gnupg} --batch --quiet --no-autostart --verify ${fresh}/x/bench.aci.asc ${fresh}/x/bench.aci 2>/dev/null`,
  },
  { label: 'by hand, same work: curl | tee aci | inflate | tee blob tar | sha512; gpg --verify; sync -f', cmd: byHand },
  { label: 'rkt fetch (download, verify, import, render)', cmd: `${rkt} --dir=${fresh}/data --local-config=${etc} fetch ${url}` },
  ...(against === undefined ? [] : [{ label: `rkt fetch, ${against}`, cmd: `${against} --dir=${fresh}/data --local-config=${etc} fetch ${url}` }]),
], { runs: quick ? 3 : 5, warmup: 1, prepare });

// The server's pipes would keep this process (and its scratch directory) alive.
server.stdin.end();
server.kill('SIGKILL');

const ours = rows.find((r) => r.label.startsWith('rkt fetch'));
const floor = rows.find((r) => r.label.startsWith('by hand'));
const ratio = ours.ratio;
console.log('\n## fetch: summary');
console.log(`rkt fetch vs curl + gpg --verify: ${ratio.toFixed(2)}x (goal 1.5x: ${ratio <= 1.5 ? 'met' : 'MISSED'})`);
console.log(`rkt fetch vs the same work by hand: ${(ours.median / floor.median).toFixed(2)}x (by hand vs curl + gpg --verify: ${floor.ratio.toFixed(2)}x)`);
const other = rows.find((r) => r.label.startsWith('rkt fetch, '));
if (other !== undefined) {
  console.log(`${other.label} vs curl + gpg --verify: ${other.ratio.toFixed(2)}x, vs by hand: ${(other.median / floor.median).toFixed(2)}x`);
}
for (const r of rows) console.log(`CPU (user + system, mean): ${r.label}: ${r.cpu.toFixed(2)} s`);
