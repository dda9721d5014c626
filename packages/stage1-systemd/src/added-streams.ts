// The streams of apps added to a running mutable pod (`rkt app add`): served by the process running the pod, as
// its own apps' are (io-relay.ts): in the default `log` mode relayed to its stdout and stderr and appended to the
// pod's app log (rkt's added apps went to the pod's journal like any other), in rkt's attach modes
// (`--stdin=stream --stdout=stream ...`, its attach experiment) through an attach mux (attach-mux.ts). The app
// entrypoints, separate processes, ask for them through a unix socket of the pod directory before the app's unit
// can connect.
import { closeSync, existsSync, fchownSync, lchownSync, mkdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { appStreamModes, type AppStreamModes } from '@rkt/controller/stage1-abi';
import type { PodApp } from './app-unit-spec.js';
import { AppAttachMux, ATTACH_DIR, type AppPty, usesTty } from './attach-mux.js';
import type { AppIoRelay } from './io-relay.js';
import { STAGE2_DIR } from './mutable-pod.js';
import { appIoName } from './units.js';

const MS_BIND = 0x1000;

/**
 * What the process running the pod needs of stage0 to give an added app a terminal (rkt's tty mode): a pty of the
 * host's devpts, its size, and mount(2) to bind its slave where the pod sees it. Stage0's, when it runs the run
 * entrypoint as its module; the executed entrypoint has none.
 */
export interface AddedTtyHost {
  readonly openPty: () => AppPty;
  readonly ptyResize: (fd: number, rows: number, cols: number) => void;
  readonly mount: (source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => void;
}

/**
 * Where an added app's pseudo-terminal is in the pod (its unit's `TTYPath=`): a file of its directory, which reaches
 * the running pod through the shared `appsinfo` mount (mutable-pod.ts's shareAppsDir) as its root does. A running
 * pod's nspawn can bind nothing more at `/rkt/tty`; the app sees the terminal at this path too (`tty` prints it).
 */
export function addedAppTtyPath(app: string): string {
  return `${STAGE2_DIR}/${app}/tty`;
}

/**
 * Where the process running a mutable pod takes the app entrypoints' requests, relative to the pod directory:
 * beside the apps' attach directories (never bound into the pod), a name no app's can be (AC names have no dot).
 */
export const ADDED_STREAMS_SOCKET = join(ATTACH_DIR, '.apps');

/**
 * One request, a JSON line: serve an app's streams (`serve`, from app/add before its unit is written, and from
 * app/start, whose app's last mux ended with its last run), or stop serving them (`remove`, from app/rm). The
 * answer is a line: `ok`, or the refusal.
 */
export interface AddedStreamsRequest {
  readonly app: string;
  readonly action: 'serve' | 'remove';
  /** How many of the unit's commands connect to its stdin socket before the app's own (`commandsBeforeMain`); absent without a streamed stdin. */
  readonly stdinAfter?: number;
}

/** An added app's stream modes (the defaults unless it has others); refused in one line when they are invalid. */
export function addedAppStreamModes(a: PodApp): AppStreamModes {
  return appStreamModes(a.name, a.annotations);
}

/**
 * A new terminal for an added app, its slave bound over `appsinfo/<app>/tty` (the pod's `addedAppTtyPath`) before
 * its unit is written; the pod's root owns the slave in a pod of its own user namespace (`owner`), as run gives its
 * own apps'. The app's for its life in the pod, run after run (its mux is kept: `AppAttachMux.endRun`): a pty closed
 * leaves its bind on a file gone from devpts, which nothing can be mounted over, and a bind made again at the
 * same place did not reliably reach the running pod. The bind goes with the app's directory at `rkt app rm`
 * (stage0 unmounts all under it, as before a new add of the name) or an add undone, or with the pod at gc.
 */
function openAddedTty(app: string, host: AddedTtyHost, owner: number | undefined): AppPty {
  const pty = host.openPty();
  // A terminal of 0 rows and columns until an attach gives its own (stty size fails on it): a VT100's.
  host.ptyResize(pty.master, 24, 80);
  if (owner !== undefined) fchownSync(pty.slave, owner, owner);
  const target = join('appsinfo', app, 'tty');
  if (!existsSync(target)) writeFileSync(target, '', { mode: 0o600 });
  try {
    host.mount(pty.path, target, null, MS_BIND, null);
  } catch (err) {
    closeSync(pty.master);
    closeSync(pty.slave);
    throw new Error(`app ${app}: cannot bind its terminal ${pty.path} at ${target}: ${(err as Error).message}`, { cause: err });
  }
  return pty;
}

/** Whether an app in these modes has attach endpoints (a mux): some stream in rkt's `stream` mode. */
export function hasAttachMux(modes: AppStreamModes): boolean {
  return Object.values(modes).includes('stream');
}

/**
 * Serves the app entrypoints' requests (mutable pods only), for the pod's life: the apps' sockets in the relay's
 * `stage1-io`, given to the pod's root (`owner`, with --private-users) as run gives its own apps'. Returns how to
 * stop, which removes the socket.
 */
export async function serveAddedStreams(relay: AppIoRelay, owner: number | undefined, tty?: AddedTtyHost): Promise<() => void> {
  mkdirSync(ATTACH_DIR, { recursive: true, mode: 0o700 });
  rmSync(ADDED_STREAMS_SOCKET, { force: true });
  // One at a time, requests and sweeps alike: a sweep's removal of a name must be done before a new add of it is
  // served, or its sockets' removal would take the new ones.
  let queue: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  // The pod manifest rewritten (stage0 renames it in, under its manifest lock): an app served that it no longer
  // names is gone (an add undone after its app/add was killed, which could not remove them), its sockets too.
  let sweepSoon: NodeJS.Timeout | undefined;
  const watcher = watch('.', (_event, name) => {
    if (name !== 'pod' || sweepSoon !== undefined) return;
    sweepSoon = setTimeout(() => {
      sweepSoon = undefined;
      void inTurn(() => sweepRemovedApps(relay));
    }, 20);
  });
  watcher.on('error', () => {});
  const server: Server = process.getBuiltinModule('node:net').createServer((conn) => {
    conn.on('error', () => {});
    let line = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      line += chunk;
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      conn.removeAllListeners('data');
      inTurn(() => handle(relay, JSON.parse(line.slice(0, nl)) as AddedStreamsRequest, owner, tty))
        .then(
        () => conn.end('ok\n'),
        (err: unknown) => conn.end(`${(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(ADDED_STREAMS_SOCKET, () => resolve());
  });
  return () => {
    watcher.close();
    clearTimeout(sweepSoon);
    server.close();
    rmSync(ADDED_STREAMS_SOCKET, { force: true });
  };
}

function readManifestApps(): PodApp[] {
  return (JSON.parse(readFileSync('pod', 'utf8')) as { apps?: PodApp[] }).apps ?? [];
}

/**
 * Stops serving (and removes the sockets and attach endpoints of) each added app the pod manifest no longer names.
 * Every app served is in the manifest first (stage0 writes it before app/add asks) and leaves it last (app/rm asks
 * for the removal before stage0 rewrites it), so one it lacks is one whose add was undone or cut short.
 */
async function sweepRemovedApps(relay: AppIoRelay): Promise<void> {
  let named: Set<string>;
  try {
    named = new Set(readManifestApps().map((a) => a.name));
  } catch {
    return; // Unreadable for now (never half written: renamed in whole): the next change or request sweeps.
  }
  for (const app of relay.addedApps()) if (!named.has(app)) await relay.removeApp(app);
}

async function handle(relay: AppIoRelay, r: AddedStreamsRequest, owner: number | undefined, tty: AddedTtyHost | undefined): Promise<void> {
  // Whatever the request: an app's command is when stale sockets are cleared too, should a change have been missed.
  await sweepRemovedApps(relay);
  if (r.action === 'remove') return relay.removeApp(r.app);
  const manifest = { apps: readManifestApps() };
  const a = manifest.apps?.find((x) => x.name === r.app);
  if (a === undefined) throw new Error(`the pod manifest has no app ${JSON.stringify(r.app)}`);
  const modes = addedAppStreamModes(a);
  if (usesTty(modes) && tty === undefined) {
    const which = (['stdin', 'stdout', 'stderr'] as const).find((s) => modes[s] === 'tty');
    throw new Error(`app ${a.name}: --${which}=tty needs stage0's pseudo-terminals (rkt-ts's stage0 running the sandbox's run entrypoint as its module); executed, it has none`);
  }
  const mux = (): AppAttachMux | undefined => {
    if (usesTty(modes)) return new AppAttachMux(a.name, modes, openAddedTty(a.name, tty!, owner), tty!.ptyResize);
    return hasAttachMux(modes) ? new AppAttachMux(a.name, modes) : undefined;
  };
  await relay.addApp(a.name, modes, r.stdinAfter, mux, usesTty(modes));
  if (owner === undefined) return;
  for (const stream of ['stdin', 'stdout', 'stderr'] as const) {
    const path = join('stage1-io', appIoName(a.name, stream));
    if (existsSync(path)) lchownSync(path, owner, owner);
  }
}

/**
 * Asks the process running the pod (in the pod directory, this process's working directory) to serve an app's
 * streams or to stop; throws its refusal in one line. It listens from soon after the pod started: a pod still
 * starting is waited for, at most 10 s.
 */
export async function requestAddedStreams(request: AddedStreamsRequest): Promise<void> {
  const net = process.getBuiltinModule('node:net');
  for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const answer = await new Promise<string | NodeJS.ErrnoException>((resolve) => {
      const conn: Socket = net.connect({ path: ADDED_STREAMS_SOCKET });
      let text = '';
      conn.setEncoding('utf8');
      conn.once('connect', () => conn.write(`${JSON.stringify(request)}\n`));
      conn.on('data', (chunk: string) => (text += chunk));
      conn.once('end', () => resolve(text.trim()));
      conn.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    });
    if (answer === 'ok') return;
    if (typeof answer === 'string') throw new Error(answer || 'the process running the pod gave no answer');
    if ((answer.code !== 'ENOENT' && answer.code !== 'ECONNREFUSED') || Date.now() > end) {
      throw new Error(`cannot reach the process running the pod (${ADDED_STREAMS_SOCKET}: ${answer.code ?? answer.message}) to serve app ${request.app}'s streams`);
    }
  }
}
