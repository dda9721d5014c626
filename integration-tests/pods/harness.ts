// Shared set-up of the pod tests: the BUILT bin/rkt run as a user runs it, a busybox image made from
// Debian's busybox-static, and a private data directory per test that is unmounted and removed even
// when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { unmountTree } from '@rkt/rootfs-overlay';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const rktBin = join(repoRoot, 'bin', 'rkt');
const BUSYBOX = '/bin/busybox';

/** `npm test` builds first; a targeted run builds what the pod tests execute when it is missing. */
export function ensureBuilt(): void {
  const needed = [join(repoRoot, 'packages/stage0-cli/dist/cli.js'), join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci')];
  if (needed.every((p) => existsSync(p))) return;
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/nx'), ['run-many', '-t', 'build', '-p', '@rkt/stage0-cli', '@rkt/stage1-fly', '--output-style=static'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false' },
  });
  if (r.status !== 0) throw new Error(`build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** A busybox ACI: /bin/busybox with applet links, users and groups to resolve names against, /tmp. */
export async function buildBusyboxAci(dir: string): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  const layout = join(dir, 'busybox-layout');
  mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
  mkdirSync(join(layout, 'rootfs', 'etc'));
  mkdirSync(join(layout, 'rootfs', 'tmp'));
  mkdirSync(join(layout, 'rootfs', 'work'));
  copyFileSync(BUSYBOX, join(layout, 'rootfs', 'bin', 'busybox'));
  for (const applet of ['sh', 'echo', 'true', 'false', 'sleep', 'id', 'pwd', 'env', 'cat', 'ls', 'touch']) {
    symlinkSync('busybox', join(layout, 'rootfs', 'bin', applet));
  }
  writeFileSync(join(layout, 'rootfs', 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n');
  writeFileSync(join(layout, 'rootfs', 'etc', 'group'), 'root:x:0:\nstaff:x:50:\nusers:x:100:\n');
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/busybox',
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: {
        exec: ['/bin/sh', '-c', 'echo image-default'],
        user: '0',
        group: '0',
        environment: [{ name: 'FROM_IMAGE', value: 'image-value' }],
      },
    }),
  );
  const out = join(dir, 'busybox.aci');
  await buildAciFromLayout(layout, out);
  return out;
}

export interface RktResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One test's data directory and the rkt commands run against it. */
export class RktEnv {
  readonly tmp: string;
  readonly dataDir: string;
  readonly children = new Set<ChildProcess>();

  constructor() {
    this.tmp = mkdtempSync(join(tmpdir(), 'rkt-pods-'));
    this.dataDir = join(this.tmp, 'data');
  }

  args(args: readonly string[]): string[] {
    return [`--dir=${this.dataDir}`, '--insecure-options=image', ...args];
  }

  run(args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): RktResult {
    const r = spawnSync(rktBin, this.args(args), { cwd: this.tmp, encoding: 'utf8', timeout: o.timeoutMs ?? 60_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs rkt in the background; the test's clean-up kills it if it is still there. */
  start(args: readonly string[]): { child: ChildProcess; done: Promise<RktResult> } {
    const child = spawn(rktBin, this.args(args), { cwd: this.tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<RktResult>((resolve) => {
      child.once('close', (status) => {
        this.children.delete(child);
        resolve({ status, stdout, stderr });
      });
    });
    return { child, done };
  }

  /** `rkt status --format=json` of a pod. */
  status(uuid: string): { state: string; pid?: number; exited?: boolean; apps: { name: string; exit_code?: number }[] } {
    const r = this.run(['status', '--format=json', uuid]);
    if (r.status !== 0) throw new Error(`rkt status failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as ReturnType<RktEnv['status']>;
  }

  async waitState(uuid: string, want: string, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = this.status(uuid).state;
      if (last === want) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`pod ${uuid} stayed ${last}, never ${want}`);
  }

  /** Waits until the pod is running and its stage1 has written the app's pid; returns the UUID and pid. */
  async waitRunning(timeoutMs = 20_000): Promise<{ uuid: string; pid: number }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const pods = JSON.parse(this.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
      const pod = pods.find((p) => p.state === 'running');
      if (pod !== undefined) {
        const { pid } = this.status(pod.name);
        if (pid !== undefined && pid > 1) return { uuid: pod.name, pid };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no pod came to run');
  }

  /** The mounts of this test's data directory, from the host's mount table. */
  mounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(this.tmp));
  }

  /** Kills what is still running, unmounts and removes everything, even after a failure. */
  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    for (const line of spawnSync('sh', ['-c', `grep -l . ${this.dataDir}/pods/run/*/pid 2>/dev/null | xargs -r cat`], { encoding: 'utf8' }).stdout.split('\n')) {
      const pid = Number(line.trim());
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    await unmountTree(this.tmp, { lazy: true }).catch(() => {});
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
