import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real nats-server (Debian's `nats-server`) on 127.0.0.1, on a port of its choosing. */
export interface TestNatsServer {
  readonly url: string;
  readonly port: number;
  /** The monitoring endpoint (`/subsz`, `/connz`), to see what clients did. */
  readonly monitorUrl: string;
  /** With `tls`: the PEM file of the CA that signed the server's certificate (for 127.0.0.1). */
  readonly caFile: string | undefined;
  /** Stops the server (SIGKILL if it lingers) and removes its directory. */
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /** Clients must authenticate with this token. */
  token?: string;
  /** A server on this port (to restart one where its clients expect it). */
  port?: number;
  /** With JetStream, its storage in the server's directory. */
  jetstream?: boolean;
  /** Requiring TLS, with a certificate from a CA made for it (openssl). */
  tls?: boolean;
}

/** A CA and a certificate for 127.0.0.1 signed by it, in `dir` (also for localhost: the client checks 127.0.0.1 under that name). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const p = (n: string) => join(dir, n);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'),
    '-days', '2', '-subj', '/CN=rkt-ts nats test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('srv.key'), '-out', p('srv.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('srv.pem'), '-days', '2', '-extfile', p('ext.cnf')]);
  return { ca: p('ca.pem'), cert: p('srv.pem'), key: p('srv.key') };
}

/** Starts nats-server and resolves once it listens (it prints the chosen ports on stderr). */
export async function startNatsServer(o: NatsServerOptions = {}): Promise<TestNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(o.port ?? -1), '-m', '-1'];
  if (o.jetstream === true) args.push('-js', '-sd', join(dir, 'jetstream'));
  const conf: string[] = [];
  if (o.token !== undefined) conf.push(`authorization { token: ${JSON.stringify(o.token)} }`);
  const certs = o.tls === true ? makeCertificates(dir) : undefined;
  if (certs !== undefined) conf.push(`tls { cert_file: ${JSON.stringify(certs.cert)}, key_file: ${JSON.stringify(certs.key)} }`);
  if (conf.length > 0) {
    writeFileSync(join(dir, 'server.conf'), `${conf.join('\n')}\n`);
    args.push('-c', join(dir, 'server.conf'));
  }
  const child: ChildProcess = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { port, monitor } = await new Promise<{ port: number; monitor: number }>((resolve, reject) => {
      let text = '';
      let monitor: number | undefined;
      const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s:\n${text}`)), 10_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${text}`));
      });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        text += chunk;
        monitor ??= Number(/http monitor on 127\.0\.0\.1:(\d+)/.exec(text)?.[1]) || undefined;
        const client = /client connections on 127\.0\.0\.1:(\d+)/.exec(text)?.[1];
        if (client !== undefined && monitor !== undefined && /Server is ready/.test(text)) {
          clearTimeout(timer);
          resolve({ port: Number(client), monitor });
        }
      });
    });
    // Its log stays read (and dropped), so that a full pipe never blocks the server.
    child.stderr!.resume();
    return { url: `${certs !== undefined ? 'tls' : 'nats'}://127.0.0.1:${port}`, port, monitorUrl: `http://127.0.0.1:${monitor}`, caFile: certs?.ca, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The number of subscriptions the server holds, from its monitoring endpoint. */
export async function subscriptionCount(server: TestNatsServer): Promise<number> {
  const res = await fetch(`${server.monitorUrl}/subsz`);
  const body = (await res.json()) as { num_subscriptions: number };
  return body.num_subscriptions;
}
