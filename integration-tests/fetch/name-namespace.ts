// A private network and mount namespace in which names resolve to a local server, so that the CLI tests
// fetch `example.com/app:v1.2` through real appc discovery (https on port 443, the name's host) with
// nothing test-only inside rkt: `unshare --net --mount` makes a namespace whose only interface is lo, a
// temporary file bind-mounted over /etc/hosts maps the names to 127.0.0.1, and a forwarder listening there on
// port 443 passes connections to the test's HTTPS server on a unix socket. rkt runs in the namespace through
// `nsenter`; the test CA reaches it only through certs.d, as for any private registry.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RktResult } from '../store/harness.js';

const FORWARDER = fileURLToPath(new URL('./ns-forwarder.mjs', import.meta.url));

export class NameNamespace {
  private constructor(private readonly child: ChildProcess, private readonly exited: Promise<void>) {}

  /** Starts the namespace; `hosts` are the names that resolve to 127.0.0.1 inside it. */
  static async start(opts: { dir: string; socket: string; hosts: readonly string[] }): Promise<NameNamespace> {
    const hostsFile = join(opts.dir, 'hosts');
    writeFileSync(hostsFile, `127.0.0.1\tlocalhost ${opts.hosts.join(' ')}\n::1\tlocalhost\n`);
    // unshare and sh exec (no fork), so the child's pid is the forwarder's: nsenter's target and what we kill.
    const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-ec',
      'ip link set lo up 2>/dev/null || ifconfig lo up; mount --bind "$0" /etc/hosts; exec "$1" "$2" "$3"', hostsFile, process.execPath, FORWARDER, opts.socket],
    { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const ns = new NameNamespace(child, exited);
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code) => reject(new Error(`the name namespace exited (${code}) before it was ready: ${stderr}`)));
        child.stdout?.setEncoding('utf8').on('data', (s: string) => { if (s.includes('ready')) resolve(); });
      });
    } catch (err) {
      await ns.stop();
      throw err;
    }
    return ns;
  }

  /** `cmd ARGS` inside the namespace (network and mounts), as a child process. */
  run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<RktResult> {
    return new Promise((resolve, reject) => {
      const c = spawn('nsenter', [`--target=${this.child.pid}`, '--net', '--mount', '--', cmd, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
      c.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      c.once('error', reject);
      c.once('close', (status) => resolve({ status, stdout, stderr }));
      c.stdin.end(opts.input ?? '');
    });
  }

  /** Kills the forwarder; with its last process gone the namespace and its /etc/hosts mount are gone too. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
