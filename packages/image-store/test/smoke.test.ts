import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { makeAci, tempDir } from './helpers.js';

describe('smoke', () => {
  it('imports, renders, lists', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const aci = makeAci(work, { name: 'example.com/a', labels: { version: '1' }, files: { 'bin/x': 'hello', 'lib': { type: 'symlink', target: 'usr/lib' }, 'usr/lib/a': 'A' }, compression: 'gzip' });
    const res = await store.importAci(aci);
    expect(res.compression).toBe('gzip');
    const list = await store.list();
    expect(list.map((i) => i.id)).toEqual([res.id]);
    const tree = await store.render(res.id);
    expect(readFileSync(join(tree.rootfs, 'bin/x'), 'utf8')).toBe('hello');
    expect(readlinkSync(join(tree.rootfs, 'lib'))).toBe('usr/lib');
    const out = join(work, 'out.aci');
    await store.exportImage(res.id.slice(0, 12), out);
    expect(`sha512-${createHash('sha512').update(readFileSync(out)).digest('hex')}`).toBe(res.id);
    console.log(readdirSync(tree.rootfs), lstatSync(tree.path).isDirectory());
  });
});
