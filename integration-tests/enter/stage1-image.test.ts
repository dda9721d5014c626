// The stage1 images as stage1-builder makes them: the same image ID when built twice, the enter
// entrypoint named in the manifest, and no systemd generators in the systemd stage1's root.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../pods/harness.js';
import { dropStage1Snapshot, ensureStage1sBuilt } from './pods.js';

let tmp: string;
beforeAll(() => ensureStage1sBuilt(), 600_000);
afterAll(() => dropStage1Snapshot());
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function build(flavor: 'fly' | 'systemd', out: string): string {
  const stdout = execFileSync('node', [join(repoRoot, 'stage1-builder/build-stage1.mjs'), flavor, out], { cwd: join(repoRoot, `packages/stage1-${flavor}`), encoding: 'utf8' });
  const id = /sha512-[0-9a-f]{128}/.exec(stdout)?.[0];
  if (id === undefined) throw new Error(`no image ID in ${JSON.stringify(stdout)}`);
  return id;
}

describe.each(['fly', 'systemd'] as const)('stage1-builder %s', (flavor) => {
  it('gives the same image ID twice, with an enter entrypoint', () => {
    tmp = mkdtempSync(join(tmpdir(), 'rkt-stage1-build-'));
    const first = build(flavor, join(tmp, 'a.aci'));
    expect(build(flavor, join(tmp, 'b.aci'))).toBe(first);
    expect(readFileSync(join(tmp, 'b.aci')).equals(readFileSync(join(tmp, 'a.aci')))).toBe(true);

    const list = execFileSync('tar', ['-tf', join(tmp, 'a.aci')], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', join(tmp, 'a.aci'), 'manifest'], { encoding: 'utf8' })) as { annotations: { name: string; value: string }[] };
    const enter = manifest.annotations.find((a) => a.name === 'coreos.com/rkt/stage1/enter')?.value;
    expect(enter).toBe(flavor === 'fly' ? '/fly/enter' : '/rkt/enter');
    expect(list).toContain(`rootfs${enter}`);
    if (flavor === 'systemd') {
      expect(list).toContain('rootfs/lib/systemd/systemd');
      expect(list.filter((f) => f.includes('system-generators/'))).toEqual([]);
    }
  }, 300_000);
});
