// Shared set-up of the image store tests: the BUILT bin/rkt run as a user runs it, each test with its own
// temporary --dir, removed even when the test fails.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const rktBin = join(repoRoot, 'bin', 'rkt');

/** `npm test` builds first; a targeted run builds the CLI when it is missing. */
export function ensureBuilt(): void {
  const needed = [join(repoRoot, 'packages/stage0-cli/dist/cli.js'), join(repoRoot, 'packages/image-store/dist/index.js')];
  if (needed.every((p) => existsSync(p))) return;
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/nx'), ['run-many', '-t', 'build', '-p', '@rkt/stage0-cli', '--output-style=static'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false' },
  });
  if (r.status !== 0) throw new Error(`build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

export interface RktResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export const sha512Id = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('hex')}`;

export class StoreEnv {
  readonly tmp = mkdtempSync(join(tmpdir(), 'rkt-store-it-'));
  readonly dir = join(this.tmp, 'data');

  /** `bin/rkt --dir=<private> ARGS`, in the temp directory (or `cwd`), synchronously. */
  run(args: readonly string[], cwd: string = this.tmp): RktResult {
    const r = spawnSync(rktBin, [`--dir=${this.dir}`, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** The same, as a child process: for many at once. */
  start(args: readonly string[]): Promise<RktResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(rktBin, [`--dir=${this.dir}`, ...args], { cwd: this.tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
      child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** `rkt fetch --insecure-options=image --full [FLAGS] FILE`: the full image ID. */
  fetch(file: string, flags: readonly string[] = []): string {
    const r = this.run(['--insecure-options=image', 'fetch', '--full', ...flags, file]);
    if (r.status !== 0) throw new Error(`fetch ${file} failed (${r.status}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Full IDs of the listed images. */
  ids(): string[] {
    const r = this.run(['image', 'list', '--no-legend', '--full', '--fields=id']);
    if (r.status !== 0) throw new Error(`image list failed: ${r.stderr}`);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }

  /** What the store holds on disk, to prove a failed command changed nothing. */
  snapshot(): string {
    const cas = join(this.dir, 'cas');
    if (!existsSync(cas)) return '(no store)';
    const list = (d: string) => (existsSync(join(cas, d)) ? readdirSync(join(cas, d)).sort().join(',') : '-');
    const images = existsSync(join(cas, 'images.json')) ? readFileSync(join(cas, 'images.json'), 'utf8') : '';
    return JSON.stringify({ images: list('images'), trees: list('trees'), tmp: list('tmp'), trash: list('trash'), records: images.replace(/"(importedAt|lastUsedAt)":\d+/g, '') });
  }

  cleanup(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
