#!/usr/bin/env node
// Builds a stage1 ACI from this repository's source: `node stage1-builder/build-stage1.mjs fly OUT.aci`.
// The stage1 package must be built first (its dist holds the bundled entrypoints and fly-exec);
// packages/stage1-fly's build script runs this as its last step, so `npm run build` (nx) makes
// packages/stage1-fly/dist/stage1-fly.aci, where stage0's default configuration finds it.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What each flavor is made of: files of its package's dist, placed under one directory of the rootfs. */
const FLAVORS = {
  fly: {
    pkg: 'packages/stage1-fly',
    name: 'coreos.com/rkt/stage1-fly',
    dir: 'fly',
    // dist file -> rootfs name: run is a static C program, the others bundled CommonJS scripts with a node
    // shebang (entrypoint-bundles.mjs).
    files: { 'fly-run': 'run', 'stop.cjs': 'stop', 'gc.cjs': 'gc', 'enter.cjs': 'enter' },
    entrypoints: { run: '/fly/run', stop: '/fly/stop', gc: '/fly/gc', enter: '/fly/enter' },
    // rkt's numbering: run takes --hostname (2), the --disable-* options (3) and --dns-conf-mode (4).
    interfaceVersion: '4',
    // The gc and stop entrypoints are also CommonJS modules that rkt-ts's `rkt gc` (for each pod) and `rkt
    // stop` call in their own process (see @rkt/controller's README, "Entrypoint modules").
    gcModule: { path: '/fly/gc', version: '1' },
    stopModule: { path: '/fly/stop', version: '1' },
    // stage0 may exec run in its own place, as rkt's did (@rkt/controller's README, "Exec'ing the run
    // entrypoint"): run then sets no parent-death signal.
    runExec: '1',
  },
  systemd: {
    pkg: 'packages/stage1-systemd',
    name: 'coreos.com/rkt/stage1-systemd',
    dir: 'rkt',
    files: {
      'run.cjs': 'run',
      'stop.cjs': 'stop',
      'gc.cjs': 'gc',
      'enter.cjs': 'enter',
      'attach.cjs': 'attach',
      'app-add.cjs': 'app-add',
      'app-start.cjs': 'app-start',
      'app-stop.cjs': 'app-stop',
      'app-rm.cjs': 'app-rm',
    },
    entrypoints: {
      run: '/rkt/run',
      stop: '/rkt/stop',
      gc: '/rkt/gc',
      enter: '/rkt/enter',
      // rkt's attach (its guide: "experimental, to be stabilized in version 5"): announced by the annotation
      // alone, as rkt's stage0 asked for it, with no interface version of its own.
      attach: '/rkt/attach',
      // rkt's app entrypoints of mutable pods (interface version 5: `rkt app add/start/stop/rm`).
      'app/add': '/rkt/app-add',
      'app/start': '/rkt/app-start',
      'app/stop': '/rkt/app-stop',
      'app/rm': '/rkt/app-rm',
    },
    // rkt's numbering: 4 as fly, and 5, run's --mutable and the app entrypoints.
    interfaceVersion: '5',
    // The run entrypoint is also a CommonJS module that rkt-ts's stage0 runs in its own process (see
    // @rkt/controller's README, "The run module").
    runModule: { path: '/rkt/run', version: '1' },
    // run's --net=none gives the pod a network namespace of its own (@rkt/controller's README, "Networks").
    netNone: '1',
    // run's --net=default, default-restricted and named CNI networks (@rkt/controller's README, "Networks").
    cniNetworks: '1',
    // run's --private-users runs the pod in a user namespace (@rkt/controller's README, "User namespaces").
    privateUsers: '1',
    gcModule: { path: '/rkt/gc', version: '1' },
    stopModule: { path: '/rkt/stop', version: '1' },
    // The app entrypoints are also CommonJS modules that rkt-ts's `rkt app add/start/stop/rm` call in their own
    // process (see @rkt/controller's README, "Entrypoint modules").
    appModules: { version: '1', paths: { 'app-add': '/rkt/app-add', 'app-start': '/rkt/app-start', 'app-stop': '/rkt/app-stop', 'app-rm': '/rkt/app-rm' } },
    // systemd (PID 1 of the pod) and systemd-nspawn, from Debian's packages by name (dash writes the
    // apps' exit statuses in multi-app pods; systemd's shutdown runs mount's umount); the shared libraries
    // they load are added by resolving their ELF NEEDED entries (see addDebianSystemd).
    debs: ['systemd', 'systemd-container', 'libsystemd-shared', 'dash', 'mount'],
  },
};

/** Directories of a Debian (non-usr-merged package layout) root that hold shared libraries. */
const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu/systemd', 'lib64'];

/** The binaries whose library closure must be complete: the pod's init and the container manager. */
const ROOT_ELVES = ['lib/systemd/systemd', 'usr/bin/systemd-nspawn', 'bin/dash', 'bin/mount', 'bin/umount'];

function needed(file) {
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  return [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

function findLib(root, soname) {
  for (const d of LIB_DIRS) if (existsSync(join(root, d, soname))) return join(root, d, soname);
  return undefined;
}

/** Libraries whose package name does not follow Debian's soname rule (libfoo.so.N -> libfooN). */
const SONAME_EXCEPTIONS = {
  'libc.so.6': 'libc6',
  'libm.so.6': 'libc6',
  'ld-linux-x86-64.so.2': 'libc6',
  'libcrypto.so.3': 'libssl3',
  'libssl.so.3': 'libssl3',
  'libpam.so.0': 'libpam0g',
};

/**
 * The Debian package that ships a library: the host's dpkg database when the host has it installed,
 * else Debian policy's name for the soname (libfoo.so.N -> libfooN, libfoo1.so.N -> libfoo1-N).
 */
function packageOf(soname) {
  if (SONAME_EXCEPTIONS[soname] !== undefined) return SONAME_EXCEPTIONS[soname];
  try {
    const out = execFileSync('dpkg', ['-S', `/${soname}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const line of out.split('\n')) {
      const m = /^([^:,\s]+)(?::[a-z0-9]+)?: (\S+)$/.exec(line.trim());
      if (m && /\/(usr\/)?lib(64|\/x86_64-linux-gnu)\//.test(m[2]) && !m[1].endsWith('-dev')) return m[1];
    }
  } catch {
    // Not installed on the host: fall through to the policy name.
  }
  const m = /^(lib[^.]+)\.so\.([0-9]+)/.exec(soname);
  if (m === null) throw new Error(`cannot tell which Debian package ships ${soname}`);
  return /[0-9]$/.test(m[1]) ? `${m[1]}-${m[2]}` : `${m[1]}${m[2]}`;
}

/**
 * Downloads the flavor's packages (apt-get download, cached under the package's .deb-cache), extracts them
 * with dpkg-deb -x, then adds the packages of every missing library until the closure is complete.
 */
function addDebianSystemd(rootfs, names, cache) {
  mkdirSync(cache, { recursive: true });
  const have = new Set();
  const extract = (pkgs) => {
    const todo = pkgs.filter((p) => !have.has(p));
    if (todo.length === 0) return;
    const cached = () => readdirSync(cache).filter((f) => f.endsWith('.deb'));
    const missing = todo.filter((p) => !cached().some((f) => f.startsWith(`${p}_`)));
    if (missing.length > 0) execFileSync('apt-get', ['download', ...missing], { cwd: cache, stdio: ['ignore', 'ignore', 'inherit'] });
    for (const p of todo) {
      const deb = cached().find((f) => f.startsWith(`${p}_`));
      if (deb === undefined) throw new Error(`apt-get download ${p} left no .deb`);
      execFileSync('dpkg-deb', ['-x', join(cache, deb), rootfs]);
      have.add(p);
    }
  };
  extract(names);
  for (;;) {
    const seen = new Set();
    const queue = ROOT_ELVES.map((f) => join(rootfs, f));
    const missing = new Set();
    while (queue.length > 0) {
      const f = queue.pop();
      if (seen.has(f)) continue;
      seen.add(f);
      for (const so of needed(f)) {
        const lib = findLib(rootfs, so);
        if (lib === undefined) missing.add(so);
        else queue.push(lib);
      }
    }
    if (missing.size === 0) break;
    const pkgs = [...new Set([...missing].map(packageOf))];
    if (pkgs.every((p) => have.has(p))) throw new Error(`libraries still missing: ${[...missing].join(' ')}`);
    extract(pkgs);
  }
  // nspawn refuses to boot a tree without os-release (checked before any bind mount), and systemd
  // expects /var/run to be /run.
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/os-release'), 'NAME="rkt stage1-systemd"\nID=rkt-stage1\nVERSION_ID=1\n');
  rmSync(join(rootfs, 'var/run'), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var'), { recursive: true });
  execFileSync('ln', ['-s', '../run', join(rootfs, 'var/run')]);
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'opt/stage2']) mkdirSync(join(rootfs, d), { recursive: true });
  // systemd runs every generator at each boot (fstab, getty, gpt-auto, sysv, cryptsetup...), a dozen
  // processes on the path of every pod, and none has anything to generate in a pod whose units are rkt's.
  for (const d of ['lib/systemd/system-generators', 'usr/lib/systemd/system-generators', 'usr/lib/systemd/system-environment-generators']) {
    rmSync(join(rootfs, d), { recursive: true, force: true });
  }
  // systemd reads these when a unit names a user or group, even a numeric one: without the files the
  // lookup fails with ENOENT instead of treating an unknown numeric ID as valid.
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  // machine-id must exist (empty) so systemd does not try to commit one into the read-only tree.
  writeFileSync(join(rootfs, 'etc/machine-id'), '');
}

/** SOURCE_DATE_EPOCH when set (reproducible-builds.org), else 0: the image's times never depend on when it was built. */
function buildEpoch() {
  const env = process.env.SOURCE_DATE_EPOCH;
  return env !== undefined && /^[0-9]+$/.test(env) ? Number(env) : 0;
}

/**
 * Gives every file of the layout the same mtime (links themselves, not their targets): the ACI keeps
 * mtimes, and files written or directories made by this build would otherwise carry the build's time,
 * so that building twice would give two image IDs.
 */
function setMtimes(dir, epoch) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) setMtimes(p, epoch);
    lutimesSync(p, epoch, epoch);
  }
  lutimesSync(dir, epoch, epoch);
}

const [flavorName, outArg] = process.argv.slice(2);
const flavor = FLAVORS[flavorName ?? ''];
if (flavor === undefined || outArg === undefined) {
  process.stderr.write(`usage: build-stage1.mjs ${Object.keys(FLAVORS).join('|')} OUT.aci\n`);
  process.exit(2);
}
const out = resolve(outArg);
const pkgDir = join(repo, flavor.pkg);
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const { buildAciFromLayout } = await import(new URL('../packages/appc-spec/dist/index.js', import.meta.url).href);

const layout = mkdtempSync(join(tmpdir(), `stage1-${flavorName}-`));
try {
  const target = join(layout, 'rootfs', flavor.dir);
  mkdirSync(target, { recursive: true });
  for (const [from, to] of Object.entries(flavor.files)) {
    copyFileSync(join(pkgDir, 'dist', from), join(target, to));
    chmodSync(join(target, to), 0o755);
  }
  // The entrypoints have no extension: this, not whatever package.json encloses the store, makes them CommonJS.
  writeFileSync(join(target, 'package.json'), '{ "type": "commonjs" }\n');
  if (flavor.debs !== undefined) {
    addDebianSystemd(join(layout, 'rootfs'), flavor.debs, join(pkgDir, '.deb-cache'));
  }
  const annotations = [
    ...Object.entries(flavor.entrypoints).map(([k, v]) => ({ name: `coreos.com/rkt/stage1/${k}`, value: v })),
    { name: 'coreos.com/rkt/stage1/interface-version', value: flavor.interfaceVersion },
    ...(flavor.runModule !== undefined
      ? [
          { name: 'rkt-ts.dev/stage1/run-module', value: flavor.runModule.path },
          { name: 'rkt-ts.dev/stage1/run-module-version', value: flavor.runModule.version },
        ]
      : []),
    ...(flavor.runExec !== undefined ? [{ name: 'rkt-ts.dev/stage1/run-exec', value: flavor.runExec }] : []),
    ...(flavor.netNone !== undefined ? [{ name: 'rkt-ts.dev/stage1/net-none', value: flavor.netNone }] : []),
    ...(flavor.cniNetworks !== undefined ? [{ name: 'rkt-ts.dev/stage1/cni-networks', value: flavor.cniNetworks }] : []),
    ...(flavor.privateUsers !== undefined ? [{ name: 'rkt-ts.dev/stage1/private-users', value: flavor.privateUsers }] : []),
    ...['gc', 'stop'].flatMap((kind) => {
      const m = flavor[`${kind}Module`];
      return m === undefined
        ? []
        : [
            { name: `rkt-ts.dev/stage1/${kind}-module`, value: m.path },
            { name: `rkt-ts.dev/stage1/${kind}-module-version`, value: m.version },
          ];
    }),
    ...Object.entries(flavor.appModules?.paths ?? {}).flatMap(([kind, path]) => [
      { name: `rkt-ts.dev/stage1/${kind}-module`, value: path },
      { name: `rkt-ts.dev/stage1/${kind}-module-version`, value: flavor.appModules.version },
    ]),
  ];
  const arch = { x64: 'amd64', arm64: 'aarch64' }[process.arch] ?? process.arch;
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: flavor.name,
    labels: [
      { name: 'version', value: version },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: arch },
    ],
    annotations,
  };
  writeFileSync(join(layout, 'manifest'), `${JSON.stringify(manifest, null, 2)}\n`);
  setMtimes(layout, buildEpoch());
  mkdirSync(dirname(out), { recursive: true });
  const r = await buildAciFromLayout(layout, out, { overwrite: true, xattrs: false });
  process.stdout.write(`${out} ${r.imageId}\n`);
} finally {
  rmSync(layout, { recursive: true, force: true });
}
