import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eachChunk } from '../src/http/download.js';

describe('eachChunk (a download body, chunk by chunk)', () => {
  it('hands over every chunk and settles when the body ends', async () => {
    const body = new PassThrough();
    const seen: string[] = [];
    const done = eachChunk(body, (c) => {
      seen.push(c.toString());
      return undefined;
    });
    body.write('a');
    body.end('b');
    await done;
    expect(seen.join('')).toBe('ab');
  });

  it('a body cut off before its error is emitted rejects, and the late error is not left without a listener', async () => {
    // What Node's HTTP client does when the server cuts a response: the body closes early ('aborted'), and
    // its ECONNRESET error comes after. With no listener left, that error was an uncaught exception.
    const body = new PassThrough();
    const done = eachChunk(body, () => undefined);
    body.write('partial');
    body.emit('close');
    await expect(done).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(() => body.emit('error', Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))).not.toThrow();
  });
});
