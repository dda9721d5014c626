#!/usr/bin/env node
// Builds a stage1 ACI from this repository's source: `node stage1-builder/build-stage1.mjs fly OUT.aci`.
// The stage1 package must be built first (its dist holds the bundled entrypoints and fly-exec);
// packages/stage1-fly's build script runs this as its last step, so `npm run build` (nx) makes
// packages/stage1-fly/dist/stage1-fly.aci, where stage0's default configuration finds it.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    // dist file -> rootfs name: run is a static C program, the others bundled ESM scripts with a node shebang.
    files: { 'fly-run': 'run', 'stop.js': 'stop', 'gc.js': 'gc', 'enter.js': 'enter' },
    entrypoints: { run: '/fly/run', stop: '/fly/stop', gc: '/fly/gc', enter: '/fly/enter' },
    interfaceVersion: '1',
  },
};

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
  const annotations = [
    ...Object.entries(flavor.entrypoints).map(([k, v]) => ({ name: `coreos.com/rkt/stage1/${k}`, value: v })),
    { name: 'coreos.com/rkt/stage1/interface-version', value: flavor.interfaceVersion },
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
  mkdirSync(dirname(out), { recursive: true });
  const r = await buildAciFromLayout(layout, out, { overwrite: true, xattrs: false });
  process.stdout.write(`${out} ${r.imageId}\n`);
} finally {
  rmSync(layout, { recursive: true, force: true });
}
