// The CLI's stdout/stderr writers (output/fd-sink.ts) and the CliError check that spans the two
// copies of the class (bin/rkt's CommonJS core, the commands' ES modules).
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import { fdSink, outputQueued } from '../src/output/fd-sink.js';

let dir: string | undefined;
const children: { kill(): boolean }[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const text = `héllo ${'wörld\n'.repeat(50_000)}`;

describe('fdSink', () => {
  it('writes every byte of multi-byte text to its descriptor, in order', () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-fd-sink-'));
    const file = join(dir, 'out');
    const fd = openSync(file, 'w');
    try {
      const sink = fdSink(fd, () => { throw new Error('a file never blocks'); }, (err) => { throw err; });
      expect(sink.write(text.slice(0, 6))).toBe(true);
      expect(sink.write(text.slice(6))).toBe(true);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('goes on through the stream, in order, once a non-blocking pipe is full', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-fd-sink-'));
    const file = join(dir, 'out');
    // Node's end of a child's stdin is non-blocking; the reader starts late, so the pipe fills.
    const child = spawn('sh', ['-c', `sleep 0.2; exec cat > "${file}"`], { stdio: ['pipe', 'ignore', 'inherit'] });
    children.push(child);
    const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    let streamed = 0;
    const sink = fdSink(fd, () => { streamed++; return child.stdin; }, (err) => { throw err; });
    expect(outputQueued()).toBe(false);
    sink.write(text.slice(0, 6));
    sink.write(text.slice(6));
    sink.write('end\n');
    // What the stream holds until the reader comes: rkt run must not exec its stage1 meanwhile.
    expect(outputQueued()).toBe(true);
    child.stdin.end();
    const status = await new Promise((resolve) => child.on('exit', resolve));
    expect(status).toBe(0);
    expect(outputQueued()).toBe(false);
    expect(streamed).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe(`${text}end\n`);
  });

  it("hands a failed write's error to onError and reports the write as not done", () => {
    const errors: string[] = [];
    const closed = openSync('/dev/null', 'r');
    closeSync(closed);
    const sink = fdSink(closed, () => new Writable(), (err) => errors.push(err.code ?? '?'));
    expect(sink.write('x')).toBe(false);
    expect(errors).toEqual(['EBADF']);
  });
});

describe('CliError', () => {
  it('is recognised across copies of the class', async () => {
    // A second instance of errors.ts, as the ES module commands hold beside the CommonJS core.
    const secondCopy = '../src/errors.ts?second-copy';
    const copy = (await import(secondCopy)) as typeof import('../src/errors.js');
    expect(copy.CliError).not.toBe(CliError);
    const err = new copy.CliError('CLI_BAD_ARGS', 'bad', { hint: 'a hint', command: 'x' });
    expect(err instanceof CliError).toBe(true);
    expect(new CliError('CLI_BAD_ARGS', 'bad') instanceof copy.CliError).toBe(true);
    expect(new Error('plain') instanceof CliError).toBe(false);
    expect(Object.assign(new Error('coded'), { code: 'CLI_BAD_ARGS' }) instanceof CliError).toBe(false);
  });
});
