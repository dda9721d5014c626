import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { tempDir } from './helpers.js';

describe('the index lock', () => {
  it('waits for a holder with backoff, and reports STORE_BUSY after the timeout', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir, lockTimeoutMs: 300 });
    await store.list();
    const holder = new ClassicLevel<string, string>(join(dir, 'cas/index'));
    await holder.open();
    try {
      const started = Date.now();
      await expect(store.trees()).rejects.toMatchObject({
        code: 'STORE_BUSY', message: expect.stringMatching(/stayed locked by other rkt processes for 300 ms/),
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      // Image queries are served by the images.json snapshot and need no lock at all.
      expect(await store.list()).toEqual([]);
      const patient = await openStore({ dir, lockTimeoutMs: 10_000 });
      const waiting = patient.trees();
      setTimeout(() => { void holder.close(); }, 200);
      expect(await waiting).toEqual([]);
    } finally {
      await holder.close();
    }
  });

  it('queues transactions of one process instead of failing them', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir, lockTimeoutMs: 1000 });
    const results = await Promise.all(Array.from({ length: 30 }, () => store.trees()));
    expect(results.every((r) => r.length === 0)).toBe(true);
  });
});
