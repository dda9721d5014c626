// The appc ACE validator (appc/spec v0.8.11's `ace/`, packaged in Debian as golang-github-appc-spec-dev)
// built with Debian's Go, offline and static, and packed into its two ACIs (main and sidekick) the way the
// spec's `ace/build_aci` packed them. Built once per content: the key covers the validator's Go sources,
// the Go version and the manifests, and the result is kept under node_modules/.cache.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { repoRoot } from '../pods/harness.js';

export const GOPATH = '/usr/share/gocode';
export const ACE_SOURCE = join(GOPATH, 'src/github.com/appc/spec/ace');
const PACKAGE = 'github.com/appc/spec/ace';

/** Why the validator cannot be built here, or undefined when it can. */
export function aceUnavailable(): string | undefined {
  if (!existsSync(join(ACE_SOURCE, 'validator.go'))) return `${ACE_SOURCE} is missing: install the Debian package golang-github-appc-spec-dev`;
  if (spawnSync('go', ['version']).status !== 0) return 'go is missing: install the Debian package golang-go';
  return undefined;
}

const LABELS = (arch: string) => [
  { name: 'version', value: '0.8.11' },
  { name: 'os', value: 'linux' },
  { name: 'arch', value: arch },
];

/** ace/image_manifest_main.json.in of the spec: what validator.go checks from inside the pod. */
function mainManifest(arch: string) {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'coreos.com/ace-validator-main',
    labels: LABELS(arch),
    app: {
      exec: ['/ace-validator', 'main'],
      eventHandlers: [
        { name: 'pre-start', exec: ['/ace-validator', 'prestart'] },
        { name: 'post-stop', exec: ['/ace-validator', 'poststop'] },
      ],
      user: '0',
      group: '0',
      workingDirectory: '/opt/acvalidator',
      environment: [{ name: 'IN_ACE_VALIDATOR', value: 'correct' }],
      mountPoints: [{ name: 'database', path: '/db', readOnly: false }],
      ports: [{ name: 'www', protocol: 'tcp', port: 80 }],
      isolators: [{ name: 'resource/memory', value: { limit: '1G' } }],
    },
    annotations: [
      { name: 'created', value: '2014-10-27T19:32:27.67021798Z' },
      { name: 'authors', value: 'Carly Container <carly@example.com>, Nat Network <nat@example.com>' },
      { name: 'homepage', value: 'https://github.com/appc/spec' },
      { name: 'documentation', value: 'https://github.com/appc/spec/blob/master/README.md' },
      { name: 'lorem', value: 'ipsum' },
    ],
  };
}

/** ace/image_manifest_sidekick.json.in. */
function sidekickManifest(arch: string) {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'coreos.com/ace-validator-sidekick',
    labels: LABELS(arch),
    app: {
      exec: ['/ace-validator', 'sidekick'],
      user: '0',
      group: '0',
      mountPoints: [{ name: 'database', path: '/db', readOnly: false }],
    },
  };
}

function go(args: readonly string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync('go', args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`go ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout.trim();
}

export interface AceImages {
  readonly main: string;
  readonly sidekick: string;
}

/**
 * Go's own build cache (content-addressed, safe for concurrent builds), which outlives a clone of the
 * repository: a clean clone's first build of the validator compiled Go's standard library again, 37-50 s of
 * the ace test file on a loaded 2-core machine, and 0.3 s with the cache. Under node_modules/.cache when Go
 * has none (no $HOME, GOCACHE=off).
 */
function goCache(cacheRoot: string): string {
  const r = spawnSync('go', ['env', 'GOCACHE'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir === '' || dir === 'off' ? join(cacheRoot, 'gocache') : dir;
}

/** Builds (or finds in the cache) ace-validator-main.aci and ace-validator-sidekick.aci. */
export async function buildAceImages(): Promise<AceImages> {
  const missing = aceUnavailable();
  if (missing !== undefined) throw new Error(missing);
  const arch = go(['env', 'GOARCH'], {});
  const key = createHash('sha256');
  key.update(go(['version'], {}));
  for (const f of readdirSync(ACE_SOURCE).sort()) key.update(f).update(readFileSync(join(ACE_SOURCE, f)));
  // The validator imports the spec's schema packages: their sources are part of what is built.
  for (const dir of ['schema', 'schema/types', 'schema/types/resource']) {
    const d = join(GOPATH, 'src/github.com/appc/spec', dir);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).filter((n) => n.endsWith('.go')).sort()) key.update(f).update(readFileSync(join(d, f)));
  }
  key.update(JSON.stringify([mainManifest(arch), sidekickManifest(arch)]));
  const cacheRoot = join(repoRoot, 'node_modules/.cache/rkt-ace');
  const dir = join(cacheRoot, key.digest('hex').slice(0, 16));
  const images = { main: join(dir, 'ace-validator-main.aci'), sidekick: join(dir, 'ace-validator-sidekick.aci') };
  if (existsSync(images.main) && existsSync(images.sidekick)) return images;

  // Built in a scratch directory renamed into place, so a killed build never leaves a half cache entry.
  const scratch = `${dir}.tmp-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    const bin = join(scratch, 'ace-validator');
    go(['build', '-trimpath', '-ldflags=-s -w', '-o', bin, PACKAGE], {
      GOPATH,
      GO111MODULE: 'off',
      CGO_ENABLED: '0',
      GOFLAGS: '',
      GOCACHE: goCache(cacheRoot),
    });
    for (const [kind, manifest] of [
      ['main', mainManifest(arch)],
      ['sidekick', sidekickManifest(arch)],
    ] as const) {
      await buildAci(
        JSON.stringify(manifest),
        [
          { path: 'ace-validator', type: 'file', source: bin, mode: 0o755 },
          { path: 'opt', type: 'directory' },
          { path: 'opt/acvalidator', type: 'directory' },
        ],
        join(scratch, `ace-validator-${kind}.aci`),
      );
    }
    rmSync(bin);
    rmSync(dir, { recursive: true, force: true });
    renameSync(scratch, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return images;
}
