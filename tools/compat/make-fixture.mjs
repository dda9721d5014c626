#!/usr/bin/env node
// Makes a compatibility fixture: the data directory (image store and pods) that an older rkt-ts actually
// wrote, for integration-tests/compat to open with the current one.
//
//   env -u NODE_EXTRA_CA_CERTS node tools/compat/make-fixture.mjs COMMIT
//
// It checks COMMIT out in a temporary detached worktree, builds it as that commit's README says
// (`tools/setup`: `npm ci` and `npm run build`; the Debian packages are this checkout's, already installed),
// and with that build's bin/rkt and bin/appc, in a data directory of its own (/var/tmp/rkt-ts-compat-make-XXXXXX/
// <short>):
// - builds the fixture images with its `appc build`: a base image holding tools/compat/echo.c (one libc-free
//   static binary, a few KB) and the app image, which depends on the base (by name, labels and image ID) and
//   runs its /echo; fetches both from their files (imported and rendered), and its fly stage1 ACI;
// - runs a pod and lets `rkt gc` (default grace period) move it to exited-garbage;
// - runs a pod whose app exits 3 (exited);
// - prepares a pod (prepared).
// Every pod uses the commit's fly stage1 by --stage1-path. Then it archives the directory as it is (the
// exited pods' overlay mounts left out with --one-file-system: the state after a reboot) into
// integration-tests/compat/fixtures/<short>.tar.xz, writes what it made and the formats it found into
// <short>.json beside it, and removes the data directory and the worktree.
//
// The record's `dataDir` is where the data directory was made: an older format records it (pod-info.json's
// `lower` and the pods' stage1/rootfs links before pod format version 2; cas/refs' podDirs in every version),
// and the test extracts the fixture elsewhere, as a data directory moved with its pods in it.
// xz, not gzip: the stage1's static `run` (800 KB) is stored twice (the ACI and its rendered tree), and
// gzip's 32 KB window compresses each copy on its own (730 KB against 300 KB).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(repo, 'integration-tests', 'compat', 'fixtures');
const IMAGE = { name: 'example.com/rkt-ts-compat', version: '1.0.0' };
const BASE = { name: 'example.com/rkt-ts-compat-base', version: '1.0.0' };
const env = { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false' };
delete env.NODE_EXTRA_CA_CERTS;

const arg = process.argv[2];
if (arg === undefined || process.argv.length > 3) {
  console.error('usage: make-fixture.mjs COMMIT');
  process.exit(2);
}

const git = (...args) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${arg}^{commit}`);
const short = git('rev-parse', '--short=7', commit);
// Its own directory, so that it shares nothing with a test run or another make-fixture.
const ROOT = mkdtempSync('/var/tmp/rkt-ts-compat-make-');
const dataDir = join(ROOT, short);
const work = mkdtempSync('/var/tmp/rkt-compat-build-');
const src = join(work, 'src');

/** Runs a command to its end, its output passed through; throws on failure. */
function sh(cmd, args, cwd = src) {
  const r = spawnSync(cmd, args, { cwd, env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

/** Runs the old rkt against the fixture's data directory; returns its stdout. */
function rkt(args, { status = 0 } = {}) {
  const r = spawnSync(join(src, 'bin', 'rkt'), [`--dir=${dataDir}`, ...args], { cwd: work, env, encoding: 'utf8' });
  process.stderr.write(r.stderr);
  if (r.status !== status) throw new Error(`rkt ${args.join(' ')}: exit ${r.status ?? r.signal}, expected ${status}\n${r.stdout}`);
  return r.stdout;
}

/** The mount points at or below `dir`, deepest first. */
function mountsBelow(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p) => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

function cleanup() {
  for (const m of mountsBelow(dataDir)) spawnSync('umount', ['--lazy', m], { stdio: 'inherit' });
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(ROOT, { recursive: true, force: true });
  if (existsSync(src)) spawnSync('git', ['-C', repo, 'worktree', 'remove', '--force', src], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
  spawnSync('git', ['-C', repo, 'worktree', 'prune'], { stdio: 'inherit' });
}

function podsIn(state) {
  const d = join(dataDir, 'pods', state);
  return existsSync(d) ? readdirSync(d) : [];
}

/** Every file and directory of a pod directory, relative, sorted (what that version put there). */
function podFiles(dir) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      // An app's rootfs is an overlay mount point (or a copy under --no-overlay): its contents are the image's.
      if (e.isDirectory() && !/^appsinfo\/[^/]+\/rootfs$/.test(p) && !p.endsWith('/overlay/upper') && !p.endsWith('/overlay/work')) {
        out.push(`${p}/`);
        walk(p);
      } else {
        out.push(e.isDirectory() ? `${p}/` : p);
      }
    }
  };
  walk('');
  return out.sort();
}

/** The index's records, read with this checkout's classic-level (the format is LevelDB's, not rkt-ts's). */
async function readIndex() {
  const { ClassicLevel } = await import('classic-level');
  const db = new ClassicLevel(join(dataDir, 'cas', 'index'), { valueEncoding: 'utf8' });
  const records = {};
  for await (const [k, v] of db.iterator()) records[k] = v;
  await db.close();
  return records;
}

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

/** An ACI's image ID: the SHA-512 of its uncompressed tar (appc build gzips by default). */
function imageId(aci) {
  const data = readFileSync(aci);
  const tar = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  return `sha512-${createHash('sha512').update(tar).digest('hex')}`;
}

async function main() {
  const subject = git('log', '-1', '--format=%s', commit);
  const date = git('log', '-1', '--format=%cI', commit);
  console.error(`make-fixture: ${short} ${subject.slice(0, 100)}`);
  sh('git', ['-C', repo, 'worktree', 'add', '--detach', src, commit], repo);

  // tools/setup's own steps. Some commits' lock files lack a workspace that landed before its lock entry
  // (commits were cherry-picked in that order): npm ci refuses them, npm install adds the link it lacks.
  let install = 'npm ci';
  if (spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: src, env, stdio: 'inherit' }).status !== 0) {
    install = 'npm install (its lock file was out of step with its workspaces)';
    sh('npm', ['install', '--no-audit', '--no-fund']);
  }
  sh('npm', ['run', 'build', '--silent']);
  const version = spawnSync(join(src, 'bin', 'rkt'), ['version'], { env, encoding: 'utf8' }).stdout.trim();

  // The fixture images, built by that version's `appc build`: the base holds one static binary, the app
  // (one small file of its own) runs it from the base.
  const labels = (version) => [{ name: 'version', value: version }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }];
  const build = (name, manifest, files) => {
    const layout = join(work, `${name}-layout`);
    mkdirSync(join(layout, 'rootfs'), { recursive: true });
    files(join(layout, 'rootfs'));
    writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', ...manifest }));
    const out = join(work, `${name}.aci`);
    sh(join(src, 'bin', 'appc'), ['build', layout, out]);
    return out;
  };
  const baseAci = build('compat-base', { name: BASE.name, labels: labels(BASE.version) }, (rootfs) => {
    execFileSync('gcc', ['-Os', '-static', '-nostdlib', '-ffreestanding', '-fno-builtin', '-fno-asynchronous-unwind-tables',
      '-fno-stack-protector', '-s', '-Wl,--build-id=none', '-o', join(rootfs, 'echo'), join(repo, 'tools', 'compat', 'echo.c')]);
    chmodSync(join(rootfs, 'echo'), 0o755);
  });
  const baseId = imageId(baseAci);
  const aci = build('compat-app', {
    name: IMAGE.name,
    labels: labels(IMAGE.version),
    app: { exec: ['/echo', 'compat-app'], user: '0', group: '0' },
    dependencies: [{ imageName: BASE.name, imageID: baseId, labels: [{ name: 'version', value: BASE.version }] }],
  }, (rootfs) => writeFileSync(join(rootfs, 'compat-app'), 'the app layer\n'));
  // A copy of the stage1 outside dist, where the pods' --stage1-path names it (gone with the worktree, as
  // an uninstalled rkt-ts's files are).
  const stage1Aci = join(work, 'stage1-fly.aci');
  copyFileSync(join(src, 'packages', 'stage1-fly', 'dist', 'stage1-fly.aci'), stage1Aci);

  const insecure = '--insecure-options=image';
  // The base first: the app's fetch finds its dependency in the store by ID, with no discovery.
  rkt(['fetch', insecure, baseAci]);
  rkt(['fetch', insecure, aci]);
  rkt(['fetch', insecure, stage1Aci]);
  const ref = `${IMAGE.name}:${IMAGE.version}`;
  const stage1 = `--stage1-path=${stage1Aci}`;
  // Arguments after -- replaced the image's before 34f7105 and are appended since: the app prints them all.
  rkt(['run', insecure, stage1, ref, '--', 'garbage-pod']);
  rkt(['gc']); // default grace period: exited pods move to exited-garbage, nothing is deleted
  rkt(['run', insecure, stage1, ref, '--', 'exited-pod', 'exit:3'], { status: 3 });
  rkt(['prepare', insecure, stage1, ref, '--', 'prepared-pod']);

  const [garbage] = podsIn('exited-garbage');
  const [exited] = podsIn('run');
  const [prepared] = podsIn('prepared');
  if (garbage === undefined || exited === undefined || prepared === undefined || podsIn('exited-garbage').length + podsIn('run').length + podsIn('prepared').length !== 3) {
    throw new Error(`unexpected pods: ${JSON.stringify(Object.fromEntries(['exited-garbage', 'run', 'prepared'].map((s) => [s, podsIn(s)])))}`);
  }
  const info = readJson(join(dataDir, 'pods', 'prepared', prepared, 'pod-info.json'));
  const stage1Manifest = readJson(join(dataDir, 'pods', 'prepared', prepared, 'stage1', 'manifest'));
  const annotation = (n) => stage1Manifest.annotations?.find((a) => a.name === n)?.value;
  const snapshotPath = join(dataDir, 'cas', 'images.json');
  const snapshot = existsSync(snapshotPath) ? readJson(snapshotPath) : undefined;
  const index = await readIndex();
  const trees = Object.entries(index)
    .filter(([k]) => k.startsWith('tree/'))
    .map(([, v]) => JSON.parse(v))
    .map((t) => ({ id: t.id, imageId: t.imageId, contentHash: t.contentHash }));

  const fixture = {
    commit,
    short,
    subject,
    date,
    rktVersion: version,
    build: install,
    dataDir,
    image: {
      name: IMAGE.name,
      version: IMAGE.version,
      id: info.apps[0].imageId,
      treeId: info.apps[0].treeId,
      // The base's own tree, rendered when it was fetched; the app's tree holds both layers.
      dependencies: [{ name: BASE.name, version: BASE.version, id: baseId, treeId: trees.find((t) => t.imageId === baseId)?.id ?? null }],
    },
    stage1: {
      name: stage1Manifest.name,
      version: stage1Manifest.labels.find((l) => l.name === 'version')?.value,
      id: info.stage1.imageId,
      treeId: info.stage1.treeId,
      interfaceVersion: annotation('coreos.com/rkt/stage1/interface-version'),
      annotations: Object.fromEntries((stage1Manifest.annotations ?? []).map((a) => [a.name, a.value])),
    },
    pods: {
      exitedGarbage: { uuid: garbage, args: ['garbage-pod'], exitCode: 0 },
      exited: { uuid: exited, args: ['exited-pod', 'exit:3'], exitCode: 3 },
      prepared: { uuid: prepared, args: ['prepared-pod'] },
    },
    formats: {
      layout: readJson(join(dataDir, 'cas', 'layout.json')),
      snapshot: snapshot === undefined ? null : { snapshotVersion: snapshot.snapshotVersion, indexVersion: snapshot.indexVersion, keys: Object.keys(snapshot) },
      indexSchema: index['meta/schema'] ?? null,
      indexKeyPrefixes: [...new Set(Object.keys(index).map((k) => k.slice(0, k.indexOf('/') + 1)))].sort(),
      trees,
      casEntries: readdirSync(join(dataDir, 'cas')).sort(),
      dataDirEntries: readdirSync(dataDir).sort(),
      // The state directories a pod reference counts as live in (cas/refs): `garbage` only since e99ba2e.
      podRefStates: readJson(join(dataDir, 'cas', 'refs', `${prepared}.json`)).podDirs.map((d) => d.split('/').at(-2)),
      podFormatVersion: info.formatVersion,
      podInfoKeys: Object.keys(info),
      podFiles: {
        exitedGarbage: podFiles(join(dataDir, 'pods', 'exited-garbage', garbage)),
        exited: podFiles(join(dataDir, 'pods', 'run', exited)),
        prepared: podFiles(join(dataDir, 'pods', 'prepared', prepared)),
      },
    },
  };

  mkdirSync(FIXTURES, { recursive: true });
  const out = join(FIXTURES, `${short}.tar.xz`);
  // --one-file-system: the exited pods' rootfs mounts are left as empty mount points (a rebooted host's).
  sh('tar', ['--one-file-system', '--sort=name', '--numeric-owner', '-C', ROOT, '-cJf', out, short], repo);
  writeFileSync(join(FIXTURES, `${short}.json`), `${JSON.stringify(fixture, null, 2)}\n`);
  console.error(`make-fixture: ${out} (${statSync(out).size} bytes) and ${short}.json`);
}

try {
  await main();
} finally {
  cleanup();
}
