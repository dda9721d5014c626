import { request } from 'node:http';
import { DEFAULT_MDS_SOCKET } from './constants.js';
import { MetadataServiceError } from './errors.js';

export interface PodRegistrationInput {
  readonly uuid: string;
  /** The pod manifest as the pod directory holds it (parsed JSON). */
  readonly manifest: unknown;
  /** Each app's image manifest by app name. */
  readonly apps: Readonly<Record<string, unknown>>;
  readonly ip?: string;
}

export interface PodRegistration {
  readonly token: string;
  /** The service's TCP port for apps. */
  readonly port: number;
}

interface Reply {
  status: number;
  body: string;
}

function call(socketPath: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() }));
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? 'no such socket' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(
        new MetadataServiceError('MDS_UNAVAILABLE', `cannot reach the metadata service at ${socketPath}: ${why} (is "rkt metadata-service" running?)`, {
          cause: err,
        }),
      );
    });
    req.end(body);
  });
}

/** Throws MDS_UNAVAILABLE unless a metadata service answers on the socket. */
export async function checkMetadataService(socketPath: string = DEFAULT_MDS_SOCKET): Promise<void> {
  const r = await call(socketPath, 'GET', '/pods');
  if (r.status !== 200) throw new MetadataServiceError('MDS_PROTOCOL', `the metadata service at ${socketPath} answered ${r.status}: ${r.body}`);
}

/** Registers a pod; its apps then reach their metadata under `http://<host>:<port>/<token>`. */
export async function registerPod(socketPath: string, input: PodRegistrationInput): Promise<PodRegistration> {
  const payload = JSON.stringify({ manifest: input.manifest, apps: input.apps, ...(input.ip !== undefined ? { ip: input.ip } : {}) });
  const r = await call(socketPath, 'PUT', `/pods/${encodeURIComponent(input.uuid)}`, payload);
  if (r.status !== 200) throw new MetadataServiceError('MDS_REJECTED', `the metadata service refused pod ${input.uuid}: ${r.status} ${r.body}`);
  let reply: unknown;
  try {
    reply = JSON.parse(r.body);
  } catch {
    reply = undefined;
  }
  const ok = typeof reply === 'object' && reply !== null && typeof (reply as PodRegistration).token === 'string' && Number.isInteger((reply as PodRegistration).port);
  if (!ok) throw new MetadataServiceError('MDS_PROTOCOL', `the metadata service at ${socketPath} answered a registration with ${JSON.stringify(r.body.slice(0, 80))}`);
  return { token: (reply as PodRegistration).token, port: (reply as PodRegistration).port };
}

/** Unregisters a pod: false if the service did not know it (restarted since, or already unregistered). */
export async function unregisterPod(socketPath: string, uuid: string): Promise<boolean> {
  const r = await call(socketPath, 'DELETE', `/pods/${encodeURIComponent(uuid)}`);
  if (r.status === 404) return false;
  if (r.status !== 200) throw new MetadataServiceError('MDS_REJECTED', `the metadata service refused to unregister pod ${uuid}: ${r.status} ${r.body}`);
  return true;
}

/** `AC_METADATA_URL` for a pod that shares the host's network namespace (fly, and the systemd stage1 today). */
export function metadataUrl(reg: PodRegistration, host = '127.0.0.1'): string {
  return `http://${host}:${reg.port}/${reg.token}`;
}
