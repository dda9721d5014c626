import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, LAYOUT_VERSION, openStore } from '../src/index.js';
import { tempDir, tinyAci } from './helpers.js';
import { Readable } from 'node:stream';

describe('layout and index versions', () => {
  it('creates a versioned layout and reopens it', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir });
    await store.importAci(Readable.from([tinyAci('example.com/v', 'v')]));
    expect(JSON.parse(readFileSync(join(dir, 'cas/layout.json'), 'utf8'))).toEqual({ layoutVersion: LAYOUT_VERSION });
    const again = await openStore({ dir });
    expect(await again.list()).toHaveLength(1);
  });

  it('refuses a layout written by a newer rkt-ts', async () => {
    const dir = join(tempDir(), 'data');
    await openStore({ dir });
    writeFileSync(join(dir, 'cas/layout.json'), JSON.stringify({ layoutVersion: LAYOUT_VERSION + 1 }));
    await expect(openStore({ dir })).rejects.toMatchObject({ code: 'STORE_VERSION', message: expect.stringMatching(/layout version 2 is newer/) });
  });

  it('refuses a damaged layout file', async () => {
    const dir = join(tempDir(), 'data');
    await openStore({ dir });
    writeFileSync(join(dir, 'cas/layout.json'), 'garbage');
    await expect(openStore({ dir })).rejects.toMatchObject({ code: 'STORE_LAYOUT' });
  });

  it('refuses an index written by a newer rkt-ts', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir });
    await store.list();
    const db = new ClassicLevel<string, string>(join(dir, 'cas/index'));
    await db.put('meta/schema', String(INDEX_VERSION + 1));
    await db.close();
    await expect(store.list()).rejects.toMatchObject({ code: 'STORE_VERSION', message: expect.stringMatching(/index schema version 2 is newer/) });
  });
});
