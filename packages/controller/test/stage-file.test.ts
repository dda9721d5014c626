import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stageFile } from '../src/fsutil.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stage-file-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('stageFile', () => {
  it('writes the file under a temp dotfile at once, and gives it its name only when placed', async () => {
    const staged = stageFile(dir, 'started', '2026-12-02T15:00:00.000Z\n');
    const before = readdirSync(dir);
    expect(before).toHaveLength(1);
    expect(before[0]).toMatch(new RegExp(`^\\.started\\.${process.pid}\\.[a-z0-9]+\\.tmp$`));
    expect(readFileSync(join(dir, before[0]!), 'utf8')).toBe('2026-12-02T15:00:00.000Z\n');
    await staged.place();
    expect(readdirSync(dir)).toEqual(['started']);
    expect(readFileSync(join(dir, 'started'), 'utf8')).toBe('2026-12-02T15:00:00.000Z\n');
  });

  it('leaves nothing when discarded', async () => {
    const staged = stageFile(dir, 'started', 'x\n');
    staged.discard();
    expect(readdirSync(dir)).toEqual([]);
    // Its fsync still ends without an unhandled rejection; placing a discarded file fails and names nothing new.
    await expect(staged.place()).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails at once where the temp cannot be made, leaving nothing', () => {
    expect(() => stageFile(join(dir, 'gone'), 'started', 'x\n')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
