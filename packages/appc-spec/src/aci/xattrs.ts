import { spawn } from 'node:child_process';
import { AppcError } from '../errors.js';

/** Absolute path -> xattr name -> value, for the files of a tree that have any. */
export type XattrTree = Map<string, Map<string, Buffer>>;

/**
 * Reads every extended attribute under `root` with one `getfattr` run (Debian package `attr`): Node has no
 * xattr API, and one spawn per tree costs a few milliseconds where a native addon would cost a build step.
 * Symlinks are neither followed nor descended into; their own attributes are read.
 */
export async function readXattrTree(root: string): Promise<XattrTree> {
  const args = ['--absolute-names', '--recursive', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=base64', '--', root];
  const { stdout, stderr, code, spawnError } = await run('getfattr', args);
  if (spawnError !== undefined) {
    if (spawnError.code === 'ENOENT') {
      throw new AppcError(
        'APPC_TOOL_MISSING',
        `${root}: cannot read extended attributes: the \`getfattr\` program is not installed (Debian package attr); build without xattrs to skip them`,
        { source: root, cause: spawnError },
      );
    }
    throw new AppcError('APPC_IO', `${root}: cannot run getfattr: ${spawnError.message}`, { source: root, cause: spawnError });
  }
  if (code !== 0) {
    const line = stderr.split('\n').find((l) => l.trim() !== '') ?? `exit status ${code}`;
    throw new AppcError('APPC_IO', `${root}: reading extended attributes failed: ${line.replace(/^getfattr:\s*/, '')}`, { source: root });
  }
  return parseGetfattrDump(stdout);
}

/**
 * `# file: <path>` then `<name>=0s<base64>` lines, a blank line between files. getfattr writes unprintable
 * bytes, `\` and `=` in names as `\ooo` octal escapes.
 */
export function parseGetfattrDump(out: Buffer): XattrTree {
  const tree: XattrTree = new Map();
  let current: Map<string, Buffer> | undefined;
  for (const line of out.toString('latin1').split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# file: ')) {
      const path = unescape(line.slice('# file: '.length));
      current = new Map();
      tree.set(path, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) throw new AppcError('APPC_IO', `unexpected getfattr output: ${JSON.stringify(line.slice(0, 80))}`);
    const name = unescape(line.slice(0, eq));
    current.set(name, decodeValue(line.slice(eq + 1)));
  }
  return tree;
}

function unescape(s: string): string {
  const bytes = Buffer.from(s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1');
  return bytes.toString('utf8');
}

function decodeValue(v: string): Buffer {
  if (v === '') return Buffer.alloc(0);
  if (v.startsWith('0s')) return Buffer.from(v.slice(2), 'base64');
  if (v.startsWith('0x')) return Buffer.from(v.slice(2), 'hex');
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(unescape(v.slice(1, -1)));
  throw new AppcError('APPC_IO', `unexpected getfattr value encoding: ${JSON.stringify(v.slice(0, 40))}`);
}

function run(bin: string, args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number | null; spawnError: NodeJS.ErrnoException | undefined }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr, code, spawnError }));
  });
}
