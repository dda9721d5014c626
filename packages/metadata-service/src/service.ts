import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_MDS_PORT, DEFAULT_MDS_SOCKET } from './constants.js';
import { MetadataServiceError } from './errors.js';
import { makeDirsSync } from './make-dirs.js';
import { PodSigner } from './hmac.js';
import { PodTable } from './pod-table.js';
import { handlePublic } from './public-api.js';
import { handleRegistration } from './registration-api.js';

export interface MetadataServiceOptions {
  /** The registration socket; default `/run/rkt/metadata-svc.sock`. */
  readonly socketPath?: string;
  /** The apps' TCP port; default 18112, 0 for any free port (tests). */
  readonly port?: number;
  /** The address the apps' listener binds; default all IPv4 addresses, as rkt (pods with their own address reach the host's). */
  readonly host?: string;
  /**
   * A registration socket already listening, handed over by systemd socket activation (fd 3): the service
   * accepts on it and leaves its file alone (the .socket unit's `RemoveOnStop=` cleans up).
   */
  readonly registrationFd?: number;
  /** One line per registration and request. */
  readonly log?: (message: string) => void;
}

export interface MetadataService {
  readonly socketPath: string;
  /** The TCP port actually bound. */
  readonly port: number;
  readonly pods: PodTable;
  /** Stops both listeners and removes the socket. */
  close(): Promise<void>;
}

/** Whether something answers on a unix socket: a leftover socket file from a killed service does not. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function listen(server: Server, target: { path: string } | { fd: number } | { port: number; host: string }, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MetadataServiceError('MDS_LISTEN', `cannot listen on ${what}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(target, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Makes the socket's directory and clears a stale socket a killed service left; refuses a live one. */
async function prepareSocketPath(socketPath: string): Promise<void> {
  try {
    makeDirsSync(dirname(socketPath));
  } catch (err) {
    throw new MetadataServiceError('MDS_LISTEN', `cannot listen on ${socketPath}: cannot create its directory: ${(err as Error).message}`, { cause: err });
  }
  let stale = false;
  try {
    stale = lstatSync(socketPath).isSocket();
    if (!stale) throw new MetadataServiceError('MDS_LISTEN', `cannot listen on ${socketPath}: a file that is not a socket is there`);
  } catch (err) {
    if (err instanceof MetadataServiceError) throw err;
  }
  if (stale) {
    if (await socketAnswers(socketPath)) throw new MetadataServiceError('MDS_LISTEN', `cannot listen on ${socketPath}: another metadata service is running`);
    unlinkSync(socketPath);
  }
}

/**
 * Starts the metadata service: the registration socket for stage0 and the apps' HTTP listener. The pods
 * and the HMAC key live in memory only: a restarted service knows no pod, as rkt's did.
 */
export async function startMetadataService(o: MetadataServiceOptions = {}): Promise<MetadataService> {
  const socketPath = o.socketPath ?? DEFAULT_MDS_SOCKET;
  const log = o.log ?? (() => {});
  const pods = new PodTable();
  const signer = new PodSigner();

  const activated = o.registrationFd !== undefined;
  if (!activated) await prepareSocketPath(socketPath);

  let port = 0;
  const publicServer = createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    void handlePublic(req, res, pods, signer).finally(() => {
      // The token is a secret: logs show the endpoint only.
      const path = (req.url ?? '').replace(/^\/[^/]*/, '/<token>');
      log(`${req.method ?? '?'} ${path} ${res.statusCode} ${Number(process.hrtime.bigint() - t0) / 1e6} ms`);
    });
  });
  const registrationServer = createServer((req, res) => void handleRegistration(req, res, { pods, port: () => port, log }));

  await listen(publicServer, { port: o.port ?? DEFAULT_MDS_PORT, host: o.host ?? '0.0.0.0' }, `port ${o.port ?? DEFAULT_MDS_PORT}`);
  const addr = publicServer.address();
  port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  try {
    if (o.registrationFd !== undefined) {
      await listen(registrationServer, { fd: o.registrationFd }, `${socketPath} (fd ${o.registrationFd})`);
    } else {
      await listen(registrationServer, { path: socketPath }, socketPath);
      // Registration hands out tokens: only root may ask.
      chmodSync(socketPath, 0o600);
    }
  } catch (err) {
    await closeServer(publicServer);
    throw err;
  }
  log(`listening on ${socketPath} and port ${port}`);

  let closed: Promise<void> | undefined;
  return {
    socketPath,
    port,
    pods,
    close() {
      closed ??= Promise.all([closeServer(publicServer), closeServer(registrationServer)]).then(() => {
        if (activated) return;
        try {
          unlinkSync(socketPath);
        } catch {
          // Node removes the socket it bound itself on close: already gone is what we want.
        }
      });
      return closed;
    },
  };
}
