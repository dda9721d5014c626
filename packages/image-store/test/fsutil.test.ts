import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/index.js';
import { tempDir } from './helpers.js';

describe('writeFileAtomic', () => {
  it('creates or replaces the file whole, 0644, and leaves no temp file beside it or in tmpDir', async () => {
    const dir = tempDir();
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const file = join(dir, 'record');
    await writeFileAtomic(file, 'one\n');
    await writeFileAtomic(file, Buffer.from('two\n'), tmp);
    expect(readFileSync(file, 'utf8')).toBe('two\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(['record', 'tmp']);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("writes a pod's file as @rkt/controller does (its own temp name, the directory left to the caller to sync)", async () => {
    const dir = tempDir();
    const file = join(dir, 'pod');
    await writeFileAtomic(file, '{}\n', { tmpName: `.pod.${process.pid}.x.tmp`, syncDir: false });
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
    expect(readdirSync(dir)).toEqual(['pod']);
  });

  it('fails without a trace when the rename does, the target as it was', async () => {
    const dir = tempDir();
    // A non-empty directory where the file would go: rename(2) refuses to replace it.
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'kept');
    await expect(writeFileAtomic(target, 'data', { tmpName: '.taken.tmp' })).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(target)).toEqual(['inside']);
  });
});
