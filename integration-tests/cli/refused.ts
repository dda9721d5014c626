// What the bad-input tests run rkt with, and compare a data directory by, before and after a refused command.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { rktBin, type RktResult } from '../pods/harness.js';

// Without NODE_EXTRA_CA_CERTS: it costs every Node start ~65 ms, and nothing here talks TLS.
const { NODE_EXTRA_CA_CERTS: _, ...baseEnv } = process.env;

/** bin/rkt with the data directory `dataDir` (no other global flag) and `env` added to this process's, in `cwd`; stdin empty. */
export function rktIn(dataDir: string, cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<RktResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(rktBin, [`--dir=${dataDir}`, ...args], { cwd, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Every entry under `dir`: type, size, mtime and link target, sorted. The image index's LevelDB files are left
 * out by default: opening it rewrites its log and manifest (not what it holds, which the listings compare).
 */
export function tree(dir: string, skip: readonly string[] = [join(dir, 'cas', 'index')]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else {
        out.push(`${p} ${st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : `${st.size} ${st.mtimeMs}`}`);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}
