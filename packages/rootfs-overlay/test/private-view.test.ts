// openPrivateView: a tree read through a helper's private mount namespace. Real overlays, binds and tmpfs;
// the host's mount table must never see the view, and the helper must go with its caller.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openPrivateView } from '../src/index.js';
import { rawMountsUnder, sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('openPrivateView', () => {
  it("merges overlay layers read-only: an upper layer's files, not what its whiteouts delete; nothing mounted on the host", async () => {
    const d = await tmp.make();
    const [lower, upper, at] = ['lower', 'upper', 'at'].map((n) => join(d, n)) as [string, string, string];
    for (const dir of [lower, upper, at, join(lower, 'etc'), join(upper, 'etc')]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(lower, 'kept'), 'from lower\n');
    writeFileSync(join(lower, 'etc', 'gone'), 'deleted by the app\n');
    writeFileSync(join(lower, 'changed'), 'old\n');
    writeFileSync(join(upper, 'changed'), 'new\n');
    writeFileSync(join(upper, 'out.txt'), 'written\n');
    sh('mknod', [join(upper, 'etc', 'gone'), 'c', '0', '0']); // overlayfs's whiteout

    const view = await openPrivateView({ source: { kind: 'layers', layers: [upper, lower] }, at });
    try {
      expect(await rawMountsUnder(d)).toEqual([]);
      expect(readdirSync(view.root).sort()).toEqual(['changed', 'etc', 'kept', 'out.txt']);
      expect(readdirSync(join(view.root, 'etc'))).toEqual([]);
      expect(readFileSync(join(view.root, 'changed'), 'utf8')).toBe('new\n');
      expect(readFileSync(join(view.root, 'out.txt'), 'utf8')).toBe('written\n');
      expect(() => writeFileSync(join(view.root, 'x'), '')).toThrow(/EROFS/);
      // The view is the helper's working directory: it stays put when the tree's directories are renamed.
      sh('mv', [at, `${at}-moved`]);
      expect(readFileSync(join(view.root, 'kept'), 'utf8')).toBe('from lower\n');
    } finally {
      await view.close();
    }
    expect(await waitGone(view.pid)).toBe(true);
    expect(readdirSync(upper).sort()).toEqual(['changed', 'etc', 'out.txt']);
  });

  it('shows a directory without what is mounted below it', async () => {
    const d = await tmp.make();
    const tree = join(d, 'tree');
    mkdirSync(join(tree, 'vol'), { recursive: true });
    writeFileSync(join(tree, 'vol', 'underneath'), '');
    sh('mount', ['-t', 'tmpfs', 'tmpfs', join(tree, 'vol')]);
    writeFileSync(join(tree, 'vol', 'on-the-volume'), '');
    const view = await openPrivateView({ source: { kind: 'dir', dir: tree }, at: tree });
    try {
      expect(readdirSync(join(view.root, 'vol'))).toEqual(['underneath']);
      expect(readdirSync(join(tree, 'vol'))).toEqual(['on-the-volume']);
    } finally {
      await view.close();
      sh('umount', [join(tree, 'vol')]);
    }
  });

  it('fails in one line naming the layers when the mount fails, leaving no helper', async () => {
    const d = await tmp.make();
    const err = await openPrivateView({ source: { kind: 'layers', layers: [join(d, 'nope'), d] }, at: d }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ROOTFS_MOUNT' });
    expect((err as Error).message).toContain(`cannot mount a private view of ${join(d, 'nope')}:${d}: `);
    expect((err as Error).message).not.toContain('\n');
  });

  it('goes away with a caller killed with SIGKILL, view and all', async () => {
    const d = await tmp.make();
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    writeFileSync(join(d, 'b', 'f'), '');
    // The built package, as another program would load it (the build comes before the tests).
    const src = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import { openPrivateView } from ${JSON.stringify(src)};
const v = await openPrivateView({ source: { kind: 'layers', layers: [${JSON.stringify(join(d, 'a'))}, ${JSON.stringify(join(d, 'b'))}] }, at: ${JSON.stringify(d)} });
console.log(v.pid); setInterval(() => {}, 1000);`;
    const caller = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const helper = await new Promise<number>((resolve, reject) => {
      caller.stdout.on('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      caller.once('exit', () => reject(new Error('the caller exited first')));
    });
    expect(readdirSync(`/proc/${helper}/cwd`)).toEqual(['f']);
    caller.kill('SIGKILL');
    expect(await waitGone(helper)).toBe(true);
    expect(await rawMountsUnder(d)).toEqual([]);
  });
});
