import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';
import { AppcError } from '../../src/errors.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../../src/aci/tar-writer.js';
import type { TarHeader } from '../../src/aci/tar-writer.js';

/** Temp dirs made by a test, removed after it whatever its outcome. */
const made: string[] = [];
afterEach(() => {
  while (made.length > 0) rmSync(made.pop()!, { recursive: true, force: true });
});

export function tempDir(prefix = 'appc-aci-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function manifestJson(name = 'example.com/test', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name,
    labels: [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
    ...extra,
  });
}

/** A layout dir with busybox and a few applet symlinks, like tools/demo builds. */
export function busyboxLayout(root: string): string {
  const layout = join(root, 'layout');
  mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(layout, 'rootfs', 'bin', 'busybox')]);
  for (const applet of ['sh', 'echo', 'true']) execFileSync('ln', ['-s', 'busybox', join(layout, 'rootfs', 'bin', applet)]);
  writeFileSync(join(layout, 'manifest'), manifestJson('example.com/busybox', { app: { exec: ['/bin/sh'], user: '0', group: '0' } }));
  return layout;
}

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function sha512File(path: string): string {
  return `sha512-${sh('sha512sum', [path]).toString().split(' ')[0]}`;
}

export interface CraftEntry extends Partial<TarHeader> {
  name: string;
  data?: string | Buffer;
}

/** A raw tar from hand-written headers: the tool for hostile archives no honest writer produces. */
export function craftTar(entries: CraftEntry[], { end = true }: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    const type = e.type ?? (data !== undefined ? 'file' : 'directory');
    const header: TarHeader = {
      mode: type === 'directory' ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      ...e,
      type,
      size: e.size ?? data?.length ?? 0,
    };
    // encodeHeader adds the directory slash; crafted names are taken literally.
    parts.push(encodeHeader(type === 'directory' ? { ...header, name: header.name.replace(/\/$/, '') } : header));
    if (data !== undefined) parts.push(data, Buffer.alloc(padding(data.length)));
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export const MANIFEST_ENTRY = (): CraftEntry => ({ name: 'manifest', data: manifestJson() });
export const ROOTFS_ENTRY = (): CraftEntry => ({ name: 'rootfs', type: 'directory' });

export function writeFile(path: string, data: Buffer | string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return path;
}

/** Runs `fn`, expecting an AppcError; returns it so the test can check code and message. */
export async function appcErrorOf(fn: () => Promise<unknown>): Promise<AppcError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof AppcError) return err;
    throw new Error(`expected an AppcError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an AppcError, but it resolved');
}

/** Command names of the live children of `pid`, from /proc (no procps needed). */
export function childrenOf(pid: number): string[] {
  const names: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // A zombie counts: it has exited but was not reaped.
    if (Number(fields[1]) === pid) names.push(stat.slice(stat.indexOf('(') + 1, close));
  }
  return names;
}
