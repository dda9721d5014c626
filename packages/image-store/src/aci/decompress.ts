import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { StoreError } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** What `importAci` accepts: a file path, a Node stream, or any async iterable of bytes. */
export type AciInput = string | Readable | AsyncIterable<Uint8Array>;

export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  return 'none';
}

function toIterable(input: AciInput): AsyncIterable<Uint8Array> {
  return typeof input === 'string' ? createReadStream(input, { highWaterMark: 1 << 20 }) : input;
}

async function* prepend(head: Buffer, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done === true) return;
    yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }
}

/** bzip2, xz and zstd are decoded by their standard tools, which are several times faster than JS ports. */
async function* external(tool: string, source: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  const child = spawn(tool, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-400); });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  // The child may stop reading early (corrupt input): EPIPE on its stdin is then expected, not an error.
  child.stdin.on('error', () => undefined);
  const feeding = Readable.from(source).pipe(child.stdin);
  feeding.on('error', () => undefined);
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    let code: number | null;
    try {
      code = await exited;
    } catch (err) {
      throw new StoreError('STORE_ACI_FORMAT', `${name}: cannot run ${tool} to decompress: ${(err as Error).message}`, { subject: name, cause: err });
    }
    if (code !== 0) {
      throw new StoreError('STORE_ACI_FORMAT', `${name}: corrupt ${tool} stream (${stderr.trim().split('\n').pop() ?? `exit ${code}`})`, { subject: name });
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function* gunzip(source: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  const z = createGunzip({ chunkSize: 1 << 18 });
  const input = Readable.from(source);
  input.on('error', (err) => z.destroy(err));
  input.pipe(z);
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('STORE_ACI_FORMAT', `${name}: corrupt gzip stream (${(err as Error).message})`, { subject: name, cause: err });
  } finally {
    input.destroy();
    z.destroy();
  }
}

/** Yields the uncompressed bytes of `input`, whatever its compression, and reports which one it was. */
export async function decompress(input: AciInput, name: string): Promise<{ compression: Compression; chunks: AsyncGenerator<Buffer> }> {
  const it = toIterable(input)[Symbol.asyncIterator]();
  const headParts: Buffer[] = [];
  let headLen = 0;
  while (headLen < 6) {
    const r = await it.next();
    if (r.done === true) break;
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    headParts.push(b);
    headLen += b.length;
  }
  const head = Buffer.concat(headParts);
  const compression = detectCompression(head);
  const raw = prepend(head, it);
  switch (compression) {
    case 'none': return { compression, chunks: raw };
    case 'gzip': return { compression, chunks: gunzip(raw, name) };
    default: return { compression, chunks: external(compression, raw, name) };
  }
}
