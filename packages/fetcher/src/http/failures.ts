import { FetchError } from '../errors.js';

// How a request or a body failed, in words, and whether another attempt could succeed: what a download
// retries (a resume is for a cut or a stall, not for a refused certificate or a redirect loop).

/** An idle socket: no byte for `ms`, before the response or in the middle of its body. */
export class HttpTimeout extends Error {
  constructor(readonly ms: number) {
    super(`timed out after ${ms / 1000} s with no data`);
    this.name = 'HttpTimeout';
  }
}

/** The body ended (or was cut) before its Content-Length. */
export class EarlyClose extends Error {
  constructor(readonly received: number, readonly total: number | undefined) {
    super(`the server closed the connection after ${received}${total === undefined ? '' : ` of ${total}`} bytes`);
    this.name = 'EarlyClose';
  }
}

/** Socket errors that may not happen again: the server restarting, a network blip, a cut connection. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN',
]);

/** Whether another attempt could succeed after `err`; a certificate, a name that does not resolve or a 4xx would fail again. */
export function isTransient(err: unknown): boolean {
  if (err instanceof FetchError) return err.transient;
  if (err instanceof HttpTimeout || err instanceof EarlyClose) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && TRANSIENT_ERRNO.has(code);
}

/** A status worth asking again for: the server's own trouble, a request timeout, or being told to slow down. */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * What went wrong while a body was read, in words: Node reports a connection the server closed mid-body,
 * and a body our idle timer cut, both as "aborted".
 */
export function bodyFailure(err: unknown, received: number, total: number | undefined): Error {
  if (err instanceof HttpTimeout || err instanceof EarlyClose || err instanceof FetchError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE' || (err instanceof Error && err.message === 'aborted')) return new EarlyClose(received, total);
  return err instanceof Error ? err : new Error(String(err));
}
