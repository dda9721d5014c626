import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { appIoName } from './units.js';

/**
 * The apps' standard streams without a terminal: a unix socket per app and stream in the pod's `stage1-io`
 * directory, which the app's unit names as `StandardOutput=file:` (systemd connects to a socket it finds
 * there). Output is relayed byte for byte to rkt's stdout and stderr; rkt's stdin goes to the app that
 * reads it. Sockets rather than FIFOs: Node can make them without spawning mkfifo.
 */
export class AppIoRelay {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Socket>();
  private readonly ended: Array<Promise<void>> = [];
  private readonly connected = new Set<string>();

  constructor(
    private readonly ioDir: string,
    private readonly apps: readonly string[],
    private readonly withStdin: boolean,
    /** Called on an app's first connection to any of its sockets: its unit started a process. */
    private readonly onFirstConnection: (app: string) => void = () => {},
  ) {}

  /** Listens on every app's sockets (a run-prepared pod's old ones are replaced). */
  async listen(): Promise<void> {
    const listening: Array<Promise<void>> = [];
    for (const app of this.apps) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const out = stream === 'stdout' ? process.stdout : process.stderr;
        listening.push(this.serve(app, join(this.ioDir, appIoName(app, stream)), false, (conn) => {
          conn.on('data', (chunk: Buffer) => out.write(chunk));
          this.ended.push(new Promise<void>((resolve) => conn.once('close', () => resolve())));
        }));
      }
      if (this.withStdin) {
        // The app's end-of-file is the end of rkt's input; its closing early is no error of rkt's. Half
        // open: systemd shuts its writing side down at once, which must not end ours.
        listening.push(this.serve(app, join(this.ioDir, appIoName(app, 'stdin')), true, (conn) => {
          process.stdin.pipe(conn);
        }));
      }
    }
    await Promise.all(listening);
  }

  /** After the pod: no new connection, and every output connection drained to its end. */
  async close(): Promise<void> {
    for (const s of this.servers) s.close();
    if (this.withStdin) {
      process.stdin.unpipe();
      process.stdin.destroy();
      for (const c of this.connections) c.destroy();
    }
    await Promise.all(this.ended);
  }

  private serve(app: string, path: string, allowHalfOpen: boolean, onConnection: (conn: Socket) => void): Promise<void> {
    rmSync(path, { force: true });
    const server = createServer({ allowHalfOpen }, (conn) => {
      if (!this.connected.has(app)) {
        this.connected.add(app);
        this.onFirstConnection(app);
      }
      this.connections.add(conn);
      conn.on('error', () => {});
      onConnection(conn);
    });
    this.servers.push(server);
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  }
}
