import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { errnoReason, makeDirs, openStore } from '../src/index.js';
import { tempDir, tinyAci } from './helpers.js';

describe('makeDirs', () => {
  it('makes the missing parents, returns the first one it made, and accepts an existing directory', async () => {
    const root = tempDir();
    expect(await makeDirs(join(root, 'a/b/c'))).toBe(join(root, 'a'));
    expect(statSync(join(root, 'a/b/c')).isDirectory()).toBe(true);
    expect(await makeDirs(join(root, 'a/b/c'))).toBeUndefined();
    // Several at once below a common new parent, as the store's layout makes them.
    await Promise.all(['x', 'y', 'z'].map((n) => makeDirs(join(root, 'p/q', n))));
    expect(readdirSync(join(root, 'p/q')).sort()).toEqual(['x', 'y', 'z']);
  });

  it('fails where a parent exists but refuses new entries (/proc), which Node\'s recursive mkdir retries forever', async () => {
    const err = await makeDirs('/proc/rkt-test/out').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOENT', path: '/proc/rkt-test' });
    expect(errnoReason(err)).toBe('/proc accepts no new directories');
    expect(existsSync('/proc/rkt-test')).toBe(false);
  });

  it('says a file in the way exists and is not a directory', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'f'), 'x');
    const err = await makeDirs(join(root, 'f')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect(errnoReason(err)).toBe('exists and is not a directory');
    expect(errnoReason(await makeDirs(join(root, 'f/g')).catch((e: unknown) => e))).toBe('not a directory');
  });
});

describe('the store with paths under /proc', () => {
  it('refuses a data directory or an extract target it cannot make, in one line, instead of hanging', async () => {
    await expect(openStore({ dir: '/proc/rkt-test-data' })).rejects.toMatchObject({
      code: 'STORE_LAYOUT', message: 'cannot create /proc/rkt-test-data/cas: /proc accepts no new directories',
    });
    const store = await openStore({ dir: join(tempDir(), 'data') });
    const { id } = await store.importAci(Readable.from([tinyAci('example.com/a', 'a')]));
    await expect(store.extractImage(id, '/proc/self/out')).rejects.toMatchObject({
      code: 'STORE_TARGET', message: '/proc/self/out: cannot create the output directory: /proc/self accepts no new directories',
    });
    const file = join(tempDir(), 'file');
    writeFileSync(file, 'x');
    await expect(store.extractImage(id, file)).rejects.toMatchObject({ code: 'STORE_TARGET', message: `${file}: exists and is not a directory` });
    mkdirSync(join(file + '.d', 'full'), { recursive: true });
    await expect(store.extractImage(id, `${file}.d`)).rejects.toMatchObject({ code: 'STORE_TARGET', message: `${file}.d: output directory exists and is not empty` });
  });
});
