// The seeded stage1 store (stage1-store.ts) shares its blobs and tree files with the template by hard links:
// a test that writes to one must fail, naming the file, and must not leave the next test a changed store.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ensureBuilt, RktEnv, STAGE1S } from './harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;

beforeAll(() => ensureBuilt(), 600_000);

it('a test that writes to a file it shares with the template fails in its clean-up, and the next test gets a whole store', async () => {
  const env = new RktEnv(fly);
  env.seedStage1();
  const trees = join(env.dataDir, 'cas', 'trees');
  const tree = readdirSync(trees)[0]!;
  appendFileSync(join(trees, tree, 'manifest'), ' ');
  await expect(env.cleanup()).rejects.toThrow(/^the test changed cas\/trees\/[^/]+\/manifest, a file it shares with the seeded stage1 store template/);

  const next = new RktEnv(fly);
  try {
    next.seedStage1();
    const ids = next.run(['image', 'list', '--no-legend', '--full', '--fields=id']).stdout.trim().split('\n');
    expect(ids).toHaveLength(1);
    const verify = next.run(['image', 'verify', ...ids]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  } finally {
    await next.cleanup();
  }
});
