import { closeSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { AppStreamModes } from '@rkt/controller/stage1-abi';
import { AppLog } from './app-log.js';
import type { AppAttachMux } from './attach-mux.js';
import { appIoName } from './units.js';

/** How long output may still come after the pod's end: its apps' last writes are in their sockets by then. */
const DRAIN_MS = 5_000;

/**
 * The apps' standard streams without a terminal: a unix socket per app and stream in the pod's `stage1-io`
 * directory, which the app's unit names as `StandardOutput=file:` (systemd connects to a socket it finds
 * there). Output is relayed byte for byte to rkt's stdout and stderr; rkt's stdin goes to the app's own
 * process and to nothing else (see `serveStdin`). Sockets rather than FIFOs: Node can make them without
 * spawning mkfifo.
 */
export class AppIoRelay {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Socket>();
  private readonly ended: Array<Promise<void>> = [];
  private readonly connected = new Set<string>();
  /** Each app's connections to its stdin socket so far. */
  private readonly stdinConnections = new Map<string, number>();

  /** The sockets bound ahead by `bind`, by path. */
  private readonly bound = new Map<string, number>();

  /** The apps' connections writing to each of rkt's output streams. */
  private readonly writers = { stdout: new Set<Socket>(), stderr: new Set<Socket>() };
  /** rkt's output streams that failed (their reader went away): relayed no more. */
  private readonly gone = new Set<'stdout' | 'stderr'>();
  /** Removes the error listener `watchOutput` put on each output stream. */
  private readonly unwatch = new Map<'stdout' | 'stderr', () => void>();

  /** The apps served: the pod's, and those added to it while it runs (`addApp`). */
  private readonly apps: string[];
  private readonly stdinAfter: Map<string, number>;
  private readonly modes: Map<string, AppStreamModes>;
  private readonly muxes: Map<string, AppAttachMux>;
  /** The added apps whose mux (their terminal's) lasts from run to run: `addApp`'s `keepTerminal`. */
  private readonly keptTerminals = new Set<string>();
  /** Each added app's socket servers, closed when it is added again (`addApp`). */
  private readonly appServers = new Map<string, Server[]>();

  constructor(
    private readonly ioDir: string,
    apps: readonly string[],
    /**
     * The apps that get rkt's stdin (none without --interactive), each with how many connections to its stdin
     * socket come before its own: one per command its unit runs before the app's (`commandsBeforeMain`).
     */
    stdinAfter: ReadonlyMap<string, number> = new Map(),
    /** Called on an app's first connection to any of its sockets: its unit started a process. */
    private readonly onFirstConnection: (app: string) => void = () => {},
    /** Called when writing rkt's stdout or stderr failed (EPIPE: its reader went away). */
    private readonly onOutputFailed: (stream: 'stdout' | 'stderr', err: NodeJS.ErrnoException) => void = () => {},
    /**
     * The apps' stream modes other than the defaults (rkt's `--stdin/--stdout/--stderr`): a `stream` goes
     * through the app's attach mux in `muxes` instead of rkt's own streams, a `null` output is dropped.
     */
    modes: ReadonlyMap<string, AppStreamModes> = new Map(),
    muxes: ReadonlyMap<string, AppAttachMux> = new Map(),
    /**
     * The pod directory whose `stage1-log/apps.log` gets every line relayed in the `log` mode (app-log.ts,
     * rkt's pod journal for the API's GetLogs); none without it. Opened in `listen`, while the pod boots.
     */
    private readonly logPodDir: string | undefined = undefined,
  ) {
    this.apps = [...apps];
    this.stdinAfter = new Map(stdinAfter);
    this.modes = new Map(modes);
    this.muxes = new Map(muxes);
  }

  private log: AppLog | undefined;

  /** Whether some app reads rkt's own stdin (--interactive without a terminal), rather than an attach mux. */
  private readsRktStdin(): boolean {
    return [...this.stdinAfter.keys()].some((app) => this.modes.get(app)?.stdin !== 'stream');
  }

  /** The app's ended: its attach clients are told (attach-mux.ts). */
  appEnded(app: string): void {
    const mux = this.muxes.get(app);
    // An added app's terminal stays its own from run to run (added-streams.ts): only its attaches end.
    if (mux !== undefined && this.keptTerminals.has(app)) void mux.endRun();
    else void mux?.end();
  }

  private sockets(apps: readonly string[] = this.apps): Array<{ app: string; stream: 'stdout' | 'stderr' | 'stdin'; path: string }> {
    return apps.flatMap((app) =>
      (this.stdinAfter.has(app) ? (['stdout', 'stderr', 'stdin'] as const) : (['stdout', 'stderr'] as const)).map((stream) => ({
        app,
        stream,
        path: join(this.ioDir, appIoName(app, stream)),
      })),
    );
  }

  /**
   * Creates every socket now, listening, with `listenUnix` (stage0's, see spawn.ts): the apps' connections
   * queue there until `listen` serves them, so node:net and the servers can wait until the pod has started.
   * A run-prepared pod's old sockets are replaced.
   */
  bind(listenUnix: (path: string) => number): void {
    try {
      for (const { path } of this.sockets()) {
        rmSync(path, { force: true });
        this.bound.set(path, listenUnix(path));
      }
    } catch (err) {
      for (const fd of this.bound.values()) closeSync(fd);
      this.bound.clear();
      throw err;
    }
  }

  /** Serves every app's sockets: the ones `bind` made, or new ones (a run-prepared pod's old ones are replaced). */
  async listen(): Promise<void> {
    if (this.logPodDir !== undefined) this.log ??= AppLog.open(this.logPodDir);
    await Promise.all([...this.serveApps(this.apps), ...[...this.muxes.values()].map((mux) => mux.listen())]);
  }

  /**
   * An app added to the running (mutable) pod (the app/add entrypoint asks, added-streams.ts), or started again:
   * its sockets served from now on, where its unit will connect (`stdinAfter` as the constructor's), its output
   * in the log mode relayed and logged as the pod's own apps', and its mux (`mux()`, none without a stream mode)
   * listening, a new one when the last ended with the app's last run. Its
   * connections to its stdin socket are counted afresh: a start runs its unit's commands again.
   */
  async addApp(app: string, modes: AppStreamModes, stdinAfter: number | undefined, mux: () => AppAttachMux | undefined, keepTerminal = false): Promise<void> {
    const fresh = !this.apps.includes(app) || JSON.stringify(this.modes.get(app)) !== JSON.stringify(modes) || this.stdinAfter.get(app) !== stdinAfter;
    // Not `onFirstConnection`'s: an added app's unit marks each start itself (app/add's markStarted), which a mark
    // of the first connection, once per app, could not; and that mark, made by this process, the host's root, was
    // a file the pod's root could not write over in a pod of its own user namespace (--private-users).
    this.connected.add(app);
    if (fresh) {
      // Added again after an `app rm` (or its unit changed): its old sockets go first.
      for (const server of this.appServers.get(app) ?? []) server.close();
      if (!this.apps.includes(app)) this.apps.push(app);
      this.modes.set(app, modes);
      if (stdinAfter !== undefined) this.stdinAfter.set(app, stdinAfter);
      else this.stdinAfter.delete(app);
    }
    this.stdinConnections.delete(app);
    const old = this.muxes.get(app);
    // A mux still serving the app's run (app/start after app/add) stays; one that ended with its last run, or of
    // an app added again, removes its directory as it ends: waited for before the next listens there.
    const replace = old === undefined || fresh || old.hasEnded;
    if (keepTerminal) this.keptTerminals.add(app);
    else this.keptTerminals.delete(app);
    if (old !== undefined && replace) await old.end();
    const next = replace ? mux() : undefined;
    if (next !== undefined) this.muxes.set(app, next);
    else if (replace) this.muxes.delete(app);
    const before = this.servers.length;
    const serving = fresh ? this.serveApps([app]) : [];
    // serve() keeps each server as it makes it: this app's are the ones made just now.
    if (fresh) this.appServers.set(app, this.servers.slice(before));
    await Promise.all([...serving, ...(next !== undefined ? [next.listen()] : [])]);
  }

  /** The apps added to the running pod (`addApp`) and not removed since (`removeApp`). */
  addedApps(): string[] {
    return [...this.appServers.keys()];
  }

  /** An app removed from the running pod (app/rm): its sockets closed, its mux ended, nothing of it served. */
  async removeApp(app: string): Promise<void> {
    for (const server of this.appServers.get(app) ?? []) server.close();
    this.appServers.delete(app);
    const i = this.apps.indexOf(app);
    if (i >= 0) this.apps.splice(i, 1);
    this.modes.delete(app);
    this.stdinAfter.delete(app);
    this.stdinConnections.delete(app);
    const mux = this.muxes.get(app);
    this.muxes.delete(app);
    this.keptTerminals.delete(app);
    await mux?.end(0);
    for (const stream of ['stdin', 'stdout', 'stderr'] as const) rmSync(join(this.ioDir, appIoName(app, stream)), { force: true });
  }

  /** Serves the sockets of `apps`; one promise per socket, resolved once it listens. */
  private serveApps(apps: readonly string[]): Array<Promise<void>> {
    const listening: Array<Promise<void>> = [];
    for (const { app, stream, path } of this.sockets(apps)) {
      if (stream === 'stdin') {
        // Half open: systemd shuts its writing side down at once, which must not end ours.
        listening.push(this.serve(app, path, true, (conn) => this.serveStdin(app, conn)));
        continue;
      }
      const out = stream === 'stdout' ? process.stdout : process.stderr;
      const mode = this.modes.get(app)?.[stream] ?? 'log';
      if (mode === 'stream' || mode === 'null') {
        listening.push(this.serve(app, path, false, (conn) => {
          this.ended.push(new Promise<void>((resolve) => conn.once('close', () => resolve())));
          // The app's mux as it is now: an app started again has a new one.
          const mux = this.muxes.get(app);
          if (mode === 'stream' && mux !== undefined) mux.attachAppOutput(stream, conn);
          else conn.resume(); // rkt's null: the output goes nowhere.
        }));
        continue;
      }
      this.watchOutput(stream, out);
      listening.push(this.serve(app, path, false, (conn) => {
        this.ended.push(new Promise<void>((resolve) => conn.once('close', () => resolve())));
        this.writers[stream].add(conn);
        // Its reader gone, the stream takes no more: an app's connection is cut at once.
        if (this.gone.has(stream)) return void conn.destroy();
        const logged = this.log?.lines(app, stream);
        conn.on('data', (chunk: Buffer) => {
          if (!this.gone.has(stream)) out.write(chunk);
          logged?.write(chunk);
        });
        if (logged !== undefined) conn.once('close', () => logged.end());
      }));
    }
    return listening;
  }

  /**
   * systemd connects the unit's StandardInput= for every command it runs, in the order it runs them: its
   * pre-start handler (ExecStartPre=, before the app), the app, then its status recorder and post-stop handler
   * (after). rkt's stdin is read only once the app's own connection is here, and only for it: given to the
   * first connection, it went to a pre-start handler that did not read it, and was lost when that ended.
   * The others get end-of-file at once, as StandardInput=null would give them. Until the app connects, what
   * rkt's stdin was given waits where it is (the pipe, the file), however early it was written; its end
   * is the app's end-of-file; an app that ends first stops the reading (the next write to it fails).
   */
  private serveStdin(app: string, conn: Socket): void {
    const seen = this.stdinConnections.get(app) ?? 0;
    this.stdinConnections.set(app, seen + 1);
    if (seen !== this.stdinAfter.get(app)) return void conn.end();
    const mux = this.modes.get(app)?.stdin === 'stream' ? this.muxes.get(app) : undefined;
    if (mux !== undefined) mux.attachAppStdin(conn);
    else process.stdin.pipe(conn);
  }

  /**
   * A failure to write rkt's stdout or stderr (EPIPE: its reader, `head` in `rkt run | head -2`, went away)
   * would otherwise be an uncaught error event that crashes the process running the pod, and the pod would be
   * killed without its statuses. Instead the stream takes no more output, every app's connection to it is
   * cut, so that the app's own next write fails with EPIPE as under a shell pipe (SIGPIPE is ignored in a
   * systemd service by default, IgnoreSIGPIPE=yes), and `onOutputFailed` is told (once per stream).
   */
  private watchOutput(stream: 'stdout' | 'stderr', out: NodeJS.WriteStream): void {
    if (this.unwatch.has(stream)) return;
    const onError = (err: NodeJS.ErrnoException): void => {
      if (this.gone.has(stream)) return;
      this.gone.add(stream);
      for (const c of this.writers[stream]) c.destroy();
      this.onOutputFailed(stream, err);
    };
    out.on('error', onError);
    this.unwatch.set(stream, () => out.off('error', onError));
  }

  /**
   * After the pod: no new connection, and every output connection drained to its end, for at most `drainMs`.
   * A writer still connected then outlived the pod (a process that escaped its cgroups): its connection is
   * cut rather than holding the run open for as long as it lives.
   */
  async close(drainMs = DRAIN_MS): Promise<void> {
    for (const fd of this.bound.values()) closeSync(fd);
    this.bound.clear();
    for (const s of this.servers) s.close();
    if (this.readsRktStdin()) {
      process.stdin.unpipe();
      process.stdin.destroy();
      for (const c of this.connections) c.destroy();
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const c of this.connections) c.destroy();
        resolve();
      }, drainMs);
    });
    await Promise.race([Promise.all(this.ended), late]);
    clearTimeout(timer);
    await Promise.all(this.ended);
    await Promise.all([...this.muxes.values()].map((m) => m.end(0)));
    for (const c of this.connections) c.destroy();
    for (const off of this.unwatch.values()) off();
    this.unwatch.clear();
    this.log?.close();
  }

  private serve(app: string, path: string, allowHalfOpen: boolean, onConnection: (conn: Socket) => void): Promise<void> {
    const fd = this.bound.get(path);
    this.bound.delete(path);
    if (fd === undefined) rmSync(path, { force: true });
    const server = process.getBuiltinModule('node:net').createServer({ allowHalfOpen }, (conn) => {
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
      if (fd !== undefined) server.listen({ fd }, () => resolve());
      else server.listen(path, () => resolve());
    });
  }
}
