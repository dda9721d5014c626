import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { tempDir, tinyAci } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const PKG = dirname(here);

describe('the listing path', () => {
  it('lists and resolves from a built package without loading classic-level, zod, tar or @rkt/appc-spec', async () => {
    const out = mkdtempSync(join(PKG, '.test-dist-'));
    try {
      const { build } = await import('tsup');
      // As the package is built (dependencies external), minus the .d.ts.
      await build({ config: false, entry: [join(PKG, 'src/index.ts')], format: ['esm'], platform: 'node', target: 'node20', outDir: out, silent: true });
      const dir = join(tempDir(), 'data');
      const store = await openStore({ dir });
      const ids: string[] = [];
      for (const n of ['a', 'b', 'c']) ids.push((await store.importAci(Readable.from([tinyAci(`example.com/${n}`, n)]))).id);
      const { stdout } = await promisify(execFile)(process.execPath, [join(here, 'workers/list-probe.mjs'), join(out, 'index.js'), dir]);
      const res = JSON.parse(stdout) as { count: number; resolved: string };
      expect(res.count).toBe(3);
      expect(ids).toContain(res.resolved);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
