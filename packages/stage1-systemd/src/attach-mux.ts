import { closeSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** An app's pseudo-terminal (rkt's tty mode): the host's devpts pair run opened for it (stage0's `openPty`). */
export interface AppPty {
  readonly master: number;
  readonly slave: number;
  /** The slave's path on the host (`/dev/pts/N`), bound into the pod for the app's unit. */
  readonly path: string;
}

/**
 * The socket beside an app's `tty` endpoint where rkt-ts's attach sends its terminal's size (`ROWS COLS\n`, at
 * once and on every change): not an endpoint of rkt's (its attach passed no size), so not listed.
 */
export const TTY_SIZE_SOCKET = 'tty-size';

/** Whether any of an app's streams is in rkt's `tty` mode. */
export function usesTty(modes: AppStreamModes): boolean {
  return modes.stdin === 'tty' || modes.stdout === 'tty' || modes.stderr === 'tty';
}

/**
 * One app's streams in rkt's `stream` mode (rkt's iomux, one per app), served by the process running the pod:
 * the app's stdin and output sockets (io-relay.ts) on one side, and on the other a unix socket per such stream
 * in `stage1-attach/<app>/` that `rkt attach` (the attach entrypoint) connects to, listed in its `endpoints`
 * file. As rkt's: input comes line by line from every attached client (a client's end, or its going away, ends
 * only its own input: the app's stdin stays open for the next), output goes to every client attached when it
 * is written (nobody attached: it is dropped), and when the app ends the clients are ended and the endpoints
 * removed, so that an attach returns.
 *
 * An app in `tty` mode (rkt's ttymux) has one endpoint, `tty`, relayed both ways and byte for byte to the
 * master of its pty: what any client sends is written to the terminal as it comes (the terminal's own line
 * discipline edits and echoes), what the terminal gives goes to every client (nobody attached: it is read
 * and dropped, so that the app never blocks on a full terminal).
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
  private readonly ttyClients = new Set<Socket>();
  private readonly sizeClients = new Set<Socket>();
  /** The pty's master, read and written once the mux listens; its close (EIO: no slave left) ends the output. */
  private master: Socket | undefined;
  private masterClosed: Promise<void> | undefined;
  private slaveOpen: boolean;
  /** When the pty's master last gave output (endRun's drain). */
  private lastOutput = 0;

  constructor(
    private readonly app: string,
    private readonly modes: AppStreamModes,
    private readonly pty?: AppPty,
    /** TIOCSWINSZ (stage0's): without it, an attach's size is not passed on. */
    private readonly resize?: (fd: number, rows: number, cols: number) => void,
  ) {
    this.slaveOpen = pty !== undefined;
  }

  /** Whether the app's end has ended this mux (its endpoints gone). */
  get hasEnded(): boolean {
    return this.ended;
  }

  /** The endpoints this app has, in rkt's order: its streamed streams, or its tty. */
  private streams(): Array<'stdin' | OutputStream | 'tty'> {
    if (this.pty !== undefined) return ['tty'];
    return (['stdin', 'stdout', 'stderr'] as const).filter((s) => this.modes[s] === 'stream');
  }

  /** Reads the pty's master from now on: to the tty clients, or dropped. */
  private openMaster(pty: AppPty): void {
    // A pty master is a tty to libuv: net.Socket refuses its fd, tty.ReadStream (made writable) takes it, one
    // handle for both directions.
    const tty = process.getBuiltinModule('node:tty');
    const master = new tty.ReadStream(pty.master, { writable: true } as ConstructorParameters<typeof tty.ReadStream>[1]);
    this.master = master;
    this.masterClosed = new Promise<void>((resolve) => master.once('close', () => resolve()));
    // EIO once no process holds the slave any more (this one let go at the app's end): the output's end.
    master.on('error', () => master.destroy());
    master.on('data', (chunk: Buffer) => {
      this.lastOutput = Date.now();
      for (const c of this.ttyClients) if (!c.destroyed && c.writable) c.write(chunk);
    });
  }

  /** Listens on the app's attach sockets, then writes its endpoints file (temp + rename: an attach reads it whole). */
  async listen(): Promise<void> {
    const dir = attachAppDir(this.app);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const net = process.getBuiltinModule('node:net');
    const targets: AttachEndpoint[] = [];
    if (this.pty !== undefined) this.openMaster(this.pty);
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
    if (this.pty !== undefined && this.resize !== undefined) {
      const server = net.createServer((conn) => this.acceptSize(conn));
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(join(dir, TTY_SIZE_SOCKET), () => resolve());
      });
    }
    const file = attachEndpointsFile(this.app);
    const doc: AttachTargets = { version: 1, targets };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(doc)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  private accept(stream: 'stdin' | OutputStream | 'tty', conn: Socket): void {
    conn.on('error', () => {});
    if (this.ended) return void conn.destroy();
    if (stream === 'tty') {
      // Raw bytes both ways: a client's end (its stdin's) ends only its input; the output goes on to it.
      this.ttyClients.add(conn);
      conn.once('close', () => this.ttyClients.delete(conn));
      conn.on('data', (chunk: Buffer) => {
        if (this.master !== undefined && !this.master.destroyed) this.master.write(chunk);
      });
      return;
    }
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

  /** An attach's terminal size, a line `ROWS COLS` at a time, given to the app's pty (the last one wins). */
  private acceptSize(conn: Socket): void {
    conn.on('error', () => {});
    if (this.ended) return void conn.destroy();
    this.sizeClients.add(conn);
    conn.once('close', () => this.sizeClients.delete(conn));
    let partial = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^(\d{1,5}) (\d{1,5})$/.exec(line);
        if (m === null || this.master === undefined || this.master.destroyed) continue;
        try {
          this.resize!(this.pty!.master, Math.min(Number(m[1]), 0xffff), Math.min(Number(m[2]), 0xffff));
        } catch {
          // The terminal gone with the app: nothing to size.
        }
      }
    });
    conn.once('end', () => conn.end());
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
  /**
   * One run of an app with a terminal ended, the mux kept for the next (an app added to a mutable pod: its
   * terminal, bound into the running pod once, is the app's for its life in the pod): its attaches are told, once
   * the terminal has been quiet for 50 ms (at most `drainMs`), by the end of their connections; new ones are
   * taken. This process still holds the slave, so the master never reads EIO between runs.
   */
  async endRun(drainMs = 1_000): Promise<void> {
    for (const start = Date.now(); Date.now() - this.lastOutput < 50 && Date.now() - start < drainMs; ) await new Promise((r) => setTimeout(r, 10));
    for (const c of [...this.ttyClients, ...this.sizeClients]) c.end();
  }

  end(drainMs = 2_000): Promise<void> {
    // Once: the pod's end (the relay's close) waits for an end the app's own began.
    this.ending ??= this.finish(drainMs);
    return this.ending;
  }

  private async finish(drainMs: number): Promise<void> {
    this.ended = true;
    rmSync(attachEndpointsFile(this.app), { force: true });
    const open = [...this.outputsOpen.stdout, ...this.outputsOpen.stderr];
    // The app's terminal: once this process lets go of the slave, the master reads what is left, then EIO.
    if (this.pty !== undefined && this.slaveOpen) {
      this.slaveOpen = false;
      closeSync(this.pty.slave);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([
        ...open.map((c) => new Promise<void>((resolve) => (c.destroyed ? resolve() : c.once('close', () => resolve())))),
        ...(this.masterClosed !== undefined ? [this.masterClosed] : []),
      ]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      }),
    ]);
    clearTimeout(timer);
    this.appStdin?.end();
    // A process that escaped with the terminal open keeps it: the master is closed anyway (the pty goes with
    // its last holder). Never listened (the pod ended before it booted): the fd is closed here.
    if (this.master !== undefined) this.master.destroy();
    else if (this.pty !== undefined) closeSync(this.pty.master);
    for (const s of this.servers) s.close();
    const clients = [...this.clients.stdin, ...this.clients.stdout, ...this.clients.stderr, ...this.ttyClients, ...this.sizeClients];
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
