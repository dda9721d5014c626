import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isAcIdentifier } from '@rkt/appc-spec/lean';
import { describe, expect, it } from 'vitest';
import { openStore, parseImageRef, type Store } from '../src/index.js';
import { sha512Id, tempDir, tinyAci } from './helpers.js';

const put = (store: Store, bytes: Buffer, latest = false) => store.importAci(Readable.from([bytes]), { latest });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lookups', () => {
  it('finds by full ID and by unique prefix; ambiguous, unknown and too-short prefixes differ', async () => {
    const store = await openStore({ dir: join(tempDir(), 'data') });
    // Find two images whose IDs share the first two hex digits.
    const byPrefix = new Map<string, Buffer>();
    let pair: [Buffer, Buffer] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const b = tinyAci('example.com/p', `n${i}`);
      const key = sha512Id(b).slice(0, 9);
      const prev = byPrefix.get(key);
      if (prev !== undefined) pair = [prev, b];
      else byPrefix.set(key, b);
    }
    const a = await put(store, pair[0]);
    const b = await put(store, pair[1]);
    expect((await store.resolve(a.id)).id).toBe(a.id);
    expect(await store.get(a.id)).toMatchObject({ id: a.id });
    expect(await store.get(`sha512-${'f'.repeat(128)}`)).toBeUndefined();
    let common = 9;
    while (a.id[common] === b.id[common]) common++;
    expect((await store.resolve(a.id.slice(0, common + 1))).id).toBe(a.id);
    await expect(store.resolve(a.id.slice(0, 9))).rejects.toMatchObject({ code: 'STORE_AMBIGUOUS' });
    const ids = (await store.list()).map((i) => i.id);
    const unknown = Array.from({ length: 256 }, (_, n) => `sha512-${n.toString(16).padStart(2, '0')}`).find((p) => !ids.some((id) => id.startsWith(p)));
    await expect(store.resolve(unknown as string)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    // The fetcher refuses such an image string in these words too (imageIdPrefix).
    await expect(store.resolve('sha512-a')).rejects.toMatchObject({ code: 'STORE_BAD_REFERENCE', message: 'invalid image ID "sha512-a": expected "sha512-" and 2 to 128 lowercase hex digits' });
    await expect(store.resolve('sha512-XY')).rejects.toMatchObject({ code: 'STORE_BAD_REFERENCE' });
    await expect(store.resolve(`sha512-${'0'.repeat(129)}`)).rejects.toMatchObject({ code: 'STORE_BAD_REFERENCE' });
  });

  it('by name: every label must match; version picks, otherwise latest then newest import', async () => {
    const store = await openStore({ dir: join(tempDir(), 'data') });
    const v1 = await put(store, tinyAci('example.com/app', '1', { version: '1', os: 'linux' }));
    await sleep(5);
    const v2 = await put(store, tinyAci('example.com/app', '2', { version: '2', os: 'linux' }), true);
    await sleep(5);
    const v3 = await put(store, tinyAci('example.com/app', '3', { version: '3', os: 'freebsd' }));
    await put(store, tinyAci('example.com/other', 'o', { version: '1' }));

    expect((await store.resolve('example.com/app')).id).toBe(v2.id); // latest beats newer v3
    expect((await store.resolve('example.com/app:1')).id).toBe(v1.id);
    expect((await store.resolve({ name: 'example.com/app', labels: [{ name: 'os', value: 'freebsd' }] })).id).toBe(v3.id);
    expect((await store.resolve({ name: 'example.com/app', labels: [{ name: 'os', value: 'linux' }, { name: 'version', value: '1' }] })).id).toBe(v1.id);
    await expect(store.resolve({ name: 'example.com/app', labels: [{ name: 'os', value: 'linux' }, { name: 'version', value: '3' }] }))
      .rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    await expect(store.resolve('example.com/app:9')).rejects.toThrow(/example.com\/app,version=9/);

    // Importing another version as latest moves the flag.
    const v4 = await put(store, tinyAci('example.com/app', '4', { version: '4', os: 'linux' }), true);
    expect((await store.resolve('example.com/app')).id).toBe(v4.id);
    expect((await store.resolve(v2.id)).latest).toBe(false);
    await store.remove(v4.id);
    // Without any latest image, the newest import wins.
    expect((await store.resolve('example.com/app')).id).toBe(v3.id);
  });

  it('resolveAll: an ID names one image, a name every image it matches, newest first', async () => {
    const store = await openStore({ dir: join(tempDir(), 'data') });
    const v1 = await put(store, tinyAci('example.com/app', '1', { version: '1', os: 'linux' }));
    await sleep(5);
    const v2 = await put(store, tinyAci('example.com/app', '2', { version: '2', os: 'linux' }), true);
    await put(store, tinyAci('example.com/other', 'o'));
    expect((await store.resolveAll('example.com/app')).map((i) => i.id)).toEqual([v2.id, v1.id]);
    expect((await store.resolveAll('example.com/app:1')).map((i) => i.id)).toEqual([v1.id]);
    expect((await store.resolveAll(v2.id.slice(0, 12))).map((i) => i.id)).toEqual([v2.id]);
    await expect(store.resolveAll('example.com/none')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND', message: 'no image named example.com/none in the store' });
  });

  it('parses rkt image references as appc image strings: name, :version and ,label=value', () => {
    expect(parseImageRef('example.com/app:1.0')).toEqual({ query: { name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }] } });
    expect(parseImageRef('sha512-ab')).toEqual({ id: 'sha512-ab' });
    expect(parseImageRef('example.com/app')).toEqual({ query: { name: 'example.com/app' } });
    expect(parseImageRef('example.com/app,version=1.0')).toEqual({ query: { name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }] } });
    expect(parseImageRef('example.com/app:1.0,os=linux')).toEqual({
      query: { name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }] },
    });
    const bad = (ref: string) => { try { parseImageRef(ref); } catch (err) { return err; } return undefined; };
    expect(bad('bad name!')).toMatchObject({ code: 'STORE_BAD_REFERENCE', message: '"bad name!" is not a valid image name (lowercase a-z0-9-._~/, alphanumeric at both ends)' });
    expect(bad('')).toMatchObject({ code: 'STORE_BAD_REFERENCE', message: 'empty image string' });
    expect(bad(',os=linux')).toMatchObject({ message: '",os=linux": "" is not a valid image name (lowercase a-z0-9-._~/, alphanumeric at both ends)' });
    expect(bad('example.com/app,os=linux,os=linux')).toMatchObject({ message: '"example.com/app,os=linux,os=linux": label os is given twice' });
    expect(bad('Example.com/app')).toMatchObject({ code: 'STORE_BAD_REFERENCE', message: expect.stringMatching(/is not a valid image name/) });
    expect(bad('example.com/app,os')).toMatchObject({ message: '"example.com/app,os": label "os" has no value (expected label=value)' });
    expect(bad('example.com/app:1,version=2')).toMatchObject({ message: '"example.com/app:1,version=2": label version is given twice' });
    expect(bad('example.com/app,os=')).toMatchObject({ code: 'STORE_BAD_REFERENCE', message: '"example.com/app,os=": label os has an empty value (expected os=VALUE)' });
    expect(bad('example.com/app:')).toMatchObject({ message: '"example.com/app:": label version has an empty value (expected version=VALUE)' });
    expect(bad('example.com/app,OS=linux')).toMatchObject({ message: '"example.com/app,OS=linux": "OS" is not a valid label name (lowercase a-z0-9-._~/, alphanumeric at both ends)' });
  });

  it("checks names with appc-spec's AC Identifier rule", () => {
    for (const name of ['a', 'example.com/app', 'example.com/~user/app_v1', 'a-b.c', '', '-a', 'a-', 'A', 'a b', 'a/', 'é', 'a..b', '9']) {
      const ok = (() => { try { parseImageRef(name); return true; } catch { return false; } })();
      expect(ok, name).toBe(isAcIdentifier(name));
    }
  });

  it('finds by labels: every label given must match, and no os/arch is assumed', async () => {
    const store = await openStore({ dir: join(tempDir(), 'data') });
    const linux = await put(store, tinyAci('example.com/app', 'l', { version: '1.0', os: 'linux' }));
    const bare = await put(store, tinyAci('example.com/bare', 'b', { version: '1.0' }));
    expect((await store.resolve('example.com/app,version=1.0')).id).toBe(linux.id);
    expect((await store.resolve('example.com/app:1.0,os=linux')).id).toBe(linux.id);
    await expect(store.resolve('example.com/app:1.0,os=freebsd')).rejects.toMatchObject({
      code: 'STORE_NOT_FOUND', message: 'no image named example.com/app,version=1.0,os=freebsd in the store',
    });
    expect((await store.resolve('example.com/bare:1.0')).id).toBe(bare.id);
    await expect(store.resolve('bad name!')).rejects.toMatchObject({ code: 'STORE_BAD_REFERENCE' });
  });
});
