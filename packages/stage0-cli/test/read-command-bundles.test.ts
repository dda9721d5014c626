// The read commands scripts poll (`rkt app list`, `app status`, `status`, `list`) must start as `rkt version` does:
// their bundles may name heavy modules (a shared chunk of @rkt/controller names zod, child_process, the streams),
// but only through the lazy loaders (`$rktLz_`: loaded at first use, which these commands never make). Anything
// else a bundle may load, wherever the call is, goes through `$rktBm_` (built-ins), `$rktRq_` (vendored packages:
// the NATS client, openpgp) or a plain `require` (classic-level): this reads those calls from the built bundles, a
// stricter rule than what a run loads. That the lazy ones stay unloaded at run time is checked on a real sandbox
// by integration-tests/systemd/app.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const READ_COMMANDS = ['app-list', 'app-status', 'status', 'list'];
const bundle = (name: string) => join(pkgDir, 'dist', 'commands', `${name}.cjs`);

beforeAll(() => {
  // `npm test` builds first; a targeted run builds here when a bundle is missing.
  if (READ_COMMANDS.every((c) => existsSync(bundle(c)))) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: pkgDir, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 120_000);

/** Every `kind("name")` call of a bundle's loaders other than the lazy one, sorted. */
function eagerLoads(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(/(\$rktBm_|\$rktRq_|\brequire)\("([^"]+)"\)/g)) found.add(`${m[1]}("${m[2]}")`);
  return [...found].sort();
}

describe('the read commands\' bundles', () => {
  it('may load nothing but fs, path, url and buffer otherwise than lazily: no vendored package, no addon, no zod', () => {
    for (const name of READ_COMMANDS) {
      const loads = eagerLoads(readFileSync(bundle(name), 'latin1'));
      expect(loads.filter((l) => !/^\$rktBm_\("(fs|url|buffer)"\)$/.test(l)), name).toEqual([]);
    }
  });

  it('would notice: app start\'s bundle may load the NATS client, run\'s classic-level', () => {
    expect(eagerLoads(readFileSync(bundle('app-start'), 'latin1'))).toContain('$rktRq_("@nats-io/transport-node")');
    expect(eagerLoads(readFileSync(bundle('run'), 'latin1'))).toContain('require("classic-level")');
  });
});
