// A `rkt metadata-service` of one test: its own socket and a free port, stopped (SIGTERM, then SIGKILL)
// and its socket removed even when the test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { rktBin } from '../pods/harness.js';

export class MdsProcess {
  readonly socket: string;
  port = 0;
  stderr = '';
  readonly #child: ChildProcess;
  readonly exited: Promise<number | null>;

  private constructor(dir: string, args: readonly string[]) {
    this.socket = join(dir, 'mds.sock');
    this.#child = spawn(rktBin, ['metadata-service', `--mds-socket=${this.socket}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  /** Starts the service and waits for its "listening" line (port 0: any free port). */
  static async start(dir: string, args: readonly string[] = ['--listen-port=0']): Promise<MdsProcess> {
    const mds = new MdsProcess(dir, args);
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      const m = / and port ([0-9]+)/.exec(mds.stderr);
      if (m !== null) {
        mds.port = Number(m[1]);
        return mds;
      }
      if (mds.#child.exitCode !== null) throw new Error(`rkt metadata-service exited ${mds.#child.exitCode}: ${mds.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await mds.stop();
    throw new Error(`rkt metadata-service did not start: ${mds.stderr}`);
  }

  /** Waits until the service's stderr matches: a test blocked in spawnSync reads the pipe only afterwards. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (Date.now() > end) throw new Error(`rkt metadata-service never logged ${pattern}: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The UUIDs registered now, from the registration socket. */
  registered(): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, path: '/pods', method: 'GET' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body) as string[]));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.socket, { force: true });
    return this.exited;
  }
}
