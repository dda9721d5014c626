import type { IncomingMessage, ServerResponse } from 'node:http';

export const JSON_TYPE = 'application/json';
/** The spec's type for the UUID, the image ID and signatures. */
export const ASCII_TYPE = 'text/plain; charset=us-ascii';

/** The largest request body accepted: forms to sign and registrations are small. */
export const MAX_BODY = 1 << 20;

export class HttpFailure extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export function send(res: ServerResponse, status: number, type: string, body: string): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(buf.length) });
  res.end(buf);
}

export function sendFailure(res: ServerResponse, f: HttpFailure): void {
  const buf = Buffer.from(`${f.message}\n`, 'utf8');
  res.writeHead(f.status, { ...f.headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(buf.length) });
  res.end(buf);
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpFailure(413, `request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A 405 naming the methods the resource allows. */
export function methodNotAllowed(method: string | undefined, allowed: string): HttpFailure {
  return new HttpFailure(405, `method ${method ?? '?'} not allowed here (allowed: ${allowed})`, { Allow: allowed });
}
