import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { AppStreamModes, AttachEndpoint, AttachTargets } from '@rkt/controller/stage1-abi';
import { appIoBase } from './units.js';

/** Where the apps' attach sockets and endpoints files are, relative to the pod directory (never inside the pod). */
export const ATTACH_DIR = 'stage1-attach';

/** An app's directory of attach sockets: `stage1-attach/<app>` (a long name hashed, as its stream sockets'). */
export function attachAppDir(app: string): string {
  return join(ATTACH_DIR, appIoBase(app));
}

/** An app's endpoints file (rkt's `/rkt/iottymux/<app>/endpoints`), relative to the pod directory. */
export function attachEndpointsFile(app: string): string {
  return join(attachAppDir(app), 'endpoints');
}

type OutputStream = 'stdout' | 'stderr';

/**
 * One app's streams in rkt's `stream` mode (rkt's iomux, one per app), served by the process running the pod:
 * the app's stdin and output sockets (io-relay.ts) on one side, and on the other a unix socket per such stream
 * in `stage1-attach/<app>/` that `rkt attach` (the attach entrypoint) connects to, listed in its `endpoints`
 * file. As rkt's: input comes line by line from every attached client (a client's end, or its going away, ends
 * only its own input: the app's stdin stays open for the next), output goes to every client attached when it
 * is written (nobody attached: it is dropped), and when the app ends the clients are ended and the endpoints
 * removed, so that an attach returns.
 */
export class AppAttachMux {
  private readonly servers: Server[] = [];
  private readonly clients = { stdin: new Set<Socket>(), stdout: new Set<Socket>(), stderr: new Set<Socket>() };
  /** The app's own stdin connection, once systemd made it; input waits here until then. */
  private appStdin: Socket | undefined;
  private readonly pendingInput: Buffer[] = [];
  /** The app's output connections still open, by stream: its end waits for their last bytes. */
  private readonly outputsOpen = { stdout: new Set<Socket>(), stderr: new Set<Socket>() };
  private ended = false;
  private ending: Promise<void> | undefined;

  constructor(
    private readonly app: string,
    private readonly modes: AppStreamModes,
  ) {}

  /** The streams this app attaches, in rkt's order. */
  private streams(): Array<'stdin' | OutputStream> {
    return (['stdin', 'stdout', 'stderr'] as const).filter((s) => this.modes[s] === 'stream');
  }

  /** Listens on the app's attach sockets, then writes its endpoints file (temp + rename: an attach reads it whole). */
  async listen(): Promise<void> {
    const dir = attachAppDir(this.app);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const net = process.getBuiltinModule('node:net');
    const targets: AttachEndpoint[] = [];
    for (const stream of this.streams()) {
      const address = join(dir, stream);
      // Half open: a client that ends its input may still read the app's output on another connection.
      const server = net.createServer({ allowHalfOpen: true }, (conn) => this.accept(stream, conn));
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address, () => resolve());
      });
      targets.push({ name: stream, domain: 'unix', address });
    }
    const file = attachEndpointsFile(this.app);
    const doc: AttachTargets = { version: 1, targets };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(doc)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  private accept(stream: 'stdin' | OutputStream, conn: Socket): void {
    conn.on('error', () => {});
    if (this.ended) return void conn.destroy();
    this.clients[stream].add(conn);
    conn.once('close', () => this.clients[stream].delete(conn));
    if (stream !== 'stdin') {
      // An output client sends nothing; its end is its detach.
      conn.on('data', () => {});
      conn.once('end', () => conn.end());
      return;
    }
    // rkt's bufferInput: whole lines, so that two clients' input does not interleave inside a line; what is
    // left at the client's end is written then.
    let partial: Buffer = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      const data = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
      const nl = data.lastIndexOf(0x0a);
      if (nl < 0) {
        partial = data;
        return;
      }
      partial = data.subarray(nl + 1);
      this.input(data.subarray(0, nl + 1));
    });
    conn.once('end', () => {
      if (partial.length > 0) this.input(partial);
      partial = Buffer.alloc(0);
      conn.end();
    });
  }

  private input(data: Buffer): void {
    if (this.appStdin === undefined) this.pendingInput.push(data);
    else if (!this.appStdin.destroyed) this.appStdin.write(data);
  }

  /** The app's own stdin connection (not a pre-start handler's): input goes there from now on. */
  attachAppStdin(conn: Socket): void {
    this.appStdin = conn;
    for (const data of this.pendingInput.splice(0)) conn.write(data);
  }

  /** One of the app's connections to its output socket: what it writes goes to every client attached. */
  attachAppOutput(stream: OutputStream, conn: Socket): void {
    this.outputsOpen[stream].add(conn);
    conn.once('close', () => this.outputsOpen[stream].delete(conn));
    conn.on('data', (chunk: Buffer) => {
      for (const c of this.clients[stream]) if (!c.destroyed && c.writable) c.write(chunk);
    });
  }

  /**
   * The app ended (its status is recorded): once its output connections have given their last bytes (at most
   * `drainMs`), every client is ended, the servers closed and the endpoints removed, so that a later attach is
   * told the app has none.
   */
  end(drainMs = 2_000): Promise<void> {
    // Once: the pod's end (the relay's close) waits for an end the app's own began.
    this.ending ??= this.finish(drainMs);
    return this.ending;
  }

  private async finish(drainMs: number): Promise<void> {
    this.ended = true;
    rmSync(attachEndpointsFile(this.app), { force: true });
    const open = [...this.outputsOpen.stdout, ...this.outputsOpen.stderr];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((c) => new Promise<void>((resolve) => (c.destroyed ? resolve() : c.once('close', () => resolve()))))),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      }),
    ]);
    clearTimeout(timer);
    this.appStdin?.end();
    for (const s of this.servers) s.close();
    const clients = [...this.clients.stdin, ...this.clients.stdout, ...this.clients.stderr];
    for (const c of clients) c.end();
    // A client that does not close after its end (stuck on its own side) is cut.
    await Promise.race([
      Promise.all(clients.map((c) => new Promise<void>((resolve) => (c.destroyed ? resolve() : c.once('close', () => resolve()))))),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1_000);
      }),
    ]);
    clearTimeout(timer);
    for (const c of clients) c.destroy();
    rmSync(attachAppDir(this.app), { recursive: true, force: true });
  }
}
