import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, manifestJson, sh, sha512File, tempDir } from '../aci/helpers.js';

// The CLI as tsup builds it (an entry plus one chunk per command), bundled from source so the test never runs
// a stale dist/.
let bundleDir: string;
let entry: string;
beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), 'appc-cli-'));
  await build({
    entryPoints: { appc: join(import.meta.dirname, '../../src/cli/appc.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: bundleDir,
    logLevel: 'silent',
  });
  entry = join(bundleDir, 'appc.js');
}, 60_000);
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

function appc(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return appcWithInput(undefined, ...args);
}

function appcWithInput(input: Buffer | undefined, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('appc build', () => {
  it('builds ACIs that actool validates, with the image ID of their uncompressed tar', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const gz = join(d, 'busybox.aci');
    expect(appc('build', layout, gz)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(sh('actool', ['validate', gz]).toString()).toBe('');
    const id = appc('image-id', gz);
    expect(id.code).toBe(0);
    expect(id.stdout).toBe(`sha512-${sh('sh', ['-c', `gzip -dc ${gz} | sha512sum`]).toString().split(' ')[0]}\n`);

    for (const c of ['none', 'bzip2', 'xz']) {
      const out = join(d, `busybox-${c}.aci`);
      expect(appc('build', `--compression=${c}`, layout, out).code).toBe(0);
      expect(sh('actool', ['validate', out]).toString()).toBe('');
      expect(appc('image-id', out).stdout).toBe(id.stdout);
    }
    expect(`${sha512File(join(d, 'busybox-none.aci'))}\n`).toBe(id.stdout);
    // "-" is standard input, named <stdin> in errors.
    expect(appcWithInput(readFileSync(join(d, 'busybox-xz.aci')), 'image-id', '-')).toEqual({ code: 0, stdout: id.stdout, stderr: '' });
    expect(appcWithInput(readFileSync(gz), 'cat-manifest', '-').stdout).toBe(`${readFileSync(join(layout, 'manifest'), 'utf8')}\n`);
    expect(appcWithInput(Buffer.from('not an image'), 'image-id', '-')).toEqual({
      code: 254,
      stdout: '',
      stderr: 'appc image-id: <stdin>: not a tar archive (12 bytes, less than one header)\n',
    });
  }, 30_000);

  it('refuses to overwrite unless told to, with one line and exit 254', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const out = join(d, 'x.aci');
    writeFileSync(out, 'keep me');
    expect(appc('build', layout, out)).toEqual({ code: 254, stdout: '', stderr: `appc build: ${out}: already exists (overwrite it with --overwrite)\n` });
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(appc('build', '--overwrite', layout, out).code).toBe(0);
    expect(appc('validate', out)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(d).sort()).toEqual(['layout', 'x.aci']);
  }, 30_000);

  it('reports a bad manifest with the file and the JSON path', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    writeFileSync(join(layout, 'manifest'), manifestJson('example.com/x', { app: { exec: ['/bin/sh'], group: '0' } }));
    const r = appc('build', layout, join(d, 'x.aci'));
    expect(r.code).toBe(254);
    expect(r.stderr).toMatch(new RegExp(`^appc build: ${join(layout, 'manifest')}: app\\.user: .+\\n$`));
    expect(readdirSync(d)).toEqual(['layout']);
  }, 30_000);
});

describe('appc usage', () => {
  it.each([
    [['build'], 'appc build: expected LAYOUT_DIR and OUT.aci, got 0 argument(s) (see --help)'],
    [['build', 'layout', 'out.tar'], 'appc build: out.tar: an image archive\'s name must end in .aci'],
    [['build', '--compression=zstd', 'a', 'b.aci'], 'appc build: --compression must be one of none, gzip, bzip2, xz, got "zstd"'],
    [['build', '--frobnicate', 'a', 'b.aci'], 'appc build: unknown flag --frobnicate'],
    [['build', '--overwrite=maybe', 'a', 'b.aci'], 'appc build: --overwrite takes no value (or =true, =false), got "maybe"'],
    [['image-id'], 'appc image-id: expected at least one ACI (see --help)'],
    [['cat-manifest', 'a.aci', 'b.aci'], 'appc cat-manifest: expected one ACI, got 2 argument(s) (see --help)'],
    [['validate'], 'appc validate: expected at least one file (see --help)'],
    [['frobnicate'], 'appc: unknown command "frobnicate" (see appc --help)'],
    [['--version'], 'appc: unknown flag --version (see appc --help)'],
    [['help', 'nope'], 'appc help: unknown command "nope" (see appc --help)'],
  ])('appc %j fails with one line and exit 254', (args, line) => {
    const r = appc(...args);
    expect(r).toEqual({ code: 254, stdout: '', stderr: `${line}\n` });
  }, 30_000);

  it('prints usage for a missing command on stderr with exit 254', () => {
    const r = appc();
    expect(r.code).toBe(254);
    expect(r.stderr).toMatch(/^Usage: appc /);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('appc: missing COMMAND');
  }, 30_000);

  it.each([['--help'], ['help'], ['build', '--help'], ['validate', '-h'], ['help', 'cat-manifest'], ['image-id', '--help']])('appc %j prints help with exit 0', (...args) => {
    const r = appc(...args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: appc /);
    expect(r.stderr).toBe('');
  }, 30_000);

  it('adds the stack under --debug', () => {
    const r = appc('--debug', 'image-id', '/nonexistent.aci');
    expect(r.code).toBe(254);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    expect(lines[0]).toBe('AppcError: /nonexistent.aci: no such file or directory');
    expect(lines.some((l) => /^\s+at /.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('appc image-id: /nonexistent.aci: no such file or directory');
    expect(appc('image-id', '/nonexistent.aci').stderr).toBe('appc image-id: /nonexistent.aci: no such file or directory\n');
  }, 30_000);

  it('stops quietly when the reader of its output goes away', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const annotations = Array.from({ length: 3000 }, (_, i) => ({ name: `note-${i}`, value: 'x'.repeat(100) }));
    writeFileSync(join(layout, 'manifest'), manifestJson('example.com/big', { annotations }));
    const aci = join(d, 'big.aci');
    expect(appc('build', layout, aci).code).toBe(0);
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${entry}" cat-manifest --pretty-print "${aci}" 2>"${d}/err" | head -c 1; echo " \${PIPESTATUS[0]}"`], {
      encoding: 'utf8',
    });
    // The first byte, then appc's own exit status: 0.
    expect(r.stdout).toBe('{ 0\n');
    expect(readFileSync(join(d, 'err'), 'utf8')).toBe('');
  }, 30_000);

  it('keeps start-up lean: the entry imports nothing but what each command loads on demand', () => {
    const src = readFileSync(entry, 'utf8');
    expect(src.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(src).not.toMatch(/^import\s/m);
    expect(src).not.toContain('zod');
    expect(src.match(/import\("\.\/[^"]+"\)/g)?.length).toBe(4);
  }, 30_000);
});

describe('appc validate, cat-manifest and image-id agree with actool', () => {
  it('validates ACIs, layouts and manifests as actool does', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const aci = join(d, 'actool.aci');
    sh('actool', ['build', layout, aci]);
    const examples = '/usr/share/doc/appc-spec/examples';
    // Not examples/image.json: its dependency's imageID is the placeholder "sha512-...", which actool accepts
    // and rkt-ts does not (README, differences from actool).
    const good = [aci, layout, join(layout, 'manifest'), join(examples, 'pod_runtime.json')];
    for (const f of good) expect(sh('actool', ['validate', f]).toString()).toBe('');
    expect(appc('validate', ...good)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(appc('image-id', aci).stdout).toBe(`sha512-${sh('sh', ['-c', `gzip -dc ${aci} | sha512sum`]).toString().split(' ')[0]}\n`);

    const badManifest = join(d, 'bad.json');
    writeFileSync(badManifest, manifestJson('Upper Case'));
    const truncated = join(d, 'truncated.aci');
    writeFileSync(truncated, readFileSync(aci).subarray(0, 2000));
    const notAnImage = join(d, 'notes.aci');
    writeFileSync(notAnImage, 'plain text, not an image\n'.repeat(30));
    for (const f of [badManifest, truncated, notAnImage]) {
      expect(spawnSync('actool', ['validate', f]).status).not.toBe(0);
    }
    const r = appc('validate', aci, badManifest, truncated, notAnImage, layout);
    expect(r.code).toBe(254);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^appc validate: ${badManifest}: name: `));
    expect(lines[1]).toBe(`appc validate: ${truncated}: gzip data is truncated (unexpected end of file)`);
    expect(lines[2]).toBe(`appc validate: ${notAnImage}: not a tar archive (bad header checksum at offset 0)`);
  }, 30_000);

  it('refuses a layout whose symlink leaves rootfs, naming the file', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    symlinkSync('../../../../etc/shadow', join(layout, 'rootfs', 'bin', 'shadow'));
    expect(appc('validate', layout)).toEqual({
      code: 254,
      stdout: '',
      stderr: `appc validate: ${join(layout, 'rootfs', 'bin', 'shadow')}: is a symlink to "../../../../etc/shadow", which points outside rootfs\n`,
    });
  }, 30_000);

  it('prints the manifest as actool cat-manifest does, plain and pretty', () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const aci = join(d, 'x.aci');
    expect(appc('build', layout, aci).code).toBe(0);
    expect(appc('cat-manifest', aci).stdout).toBe(sh('actool', ['cat-manifest', aci]).toString());
    expect(appc('cat-manifest', '--pretty-print', aci).stdout).toBe(sh('actool', ['cat-manifest', '--pretty-print', aci]).toString());
  }, 30_000);
});
