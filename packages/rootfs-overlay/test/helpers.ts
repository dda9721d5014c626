import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';

/**
 * A temp dir per test, and an afterEach that lazily detaches whatever is still mounted under it (with
 * plain umount, not the code under test), removes it, and then fails the test if anything was left
 * mounted: every test must clean up after itself even when it fails halfway.
 */
export function useTempDirs(): { make: (name?: string) => Promise<string> } {
  const dirs: string[] = [];
  afterEach(async () => {
    const leaked: string[] = [];
    for (const dir of dirs.splice(0)) {
      const under = await rawMountsUnder(dir);
      leaked.push(...under);
      for (const mp of under.reverse()) {
        try {
          execFileSync('umount', ['-l', '--no-canonicalize', mp], { stdio: 'ignore' });
        } catch {
          // An outer lazy detach may have taken it already.
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
    expect(leaked, 'mounts left behind by the test').toEqual([]);
  });
  return {
    make: async (name = 'rootfs-') => {
      const d = await mkdtemp(join(tmpdir(), name));
      dirs.push(d);
      return d;
    },
  };
}

/** Mount points at or under dir, by a naive reading of mountinfo independent of the package's parser. */
export async function rawMountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

export function sh(cmd: string, args: string[]): string {
  // Piped stderr ends up in the thrown error's message instead of the test output.
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
