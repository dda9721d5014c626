import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { appStreamModes, type AttachEndpointName, type AttachTargets } from '@rkt/controller/stage1-abi';
import type { PodApp } from '../app-unit-spec.js';
import { attachEndpointsFile, TTY_SIZE_SOCKET } from '../attach-mux.js';
import { fail, parseEntrypointArgs } from './args.js';

const USAGE = 'usage: attach --action=list|auto-attach|custom-attach --app=NAME [--tty-in=BOOL --tty-out=BOOL --stdin=BOOL --stdout=BOOL --stderr=BOOL]';

/**
 * The app's endpoints file, written by the process running the pod once the app's mux listens (attach-mux.ts):
 * refused at once for an app of the pod without a stream mode, or one that ended (its status recorded, its
 * endpoints gone); waited for while the pod still boots (at most 10 s).
 */
async function readTargets(app: string): Promise<AttachTargets> {
  const manifest = JSON.parse(readFileSync('pod', 'utf8')) as { apps?: PodApp[] };
  const a = manifest.apps?.find((x) => x.name === app);
  if (a === undefined) throw new Error(`app ${JSON.stringify(app)} is not in the pod`);
  const modes = appStreamModes(app, a.annotations);
  if (!(['stdin', 'stdout', 'stderr'] as const).some((s) => modes[s] === 'stream' || modes[s] === 'tty')) {
    throw new Error(`app ${JSON.stringify(app)} has no endpoints to attach to (none of its streams is in stream or tty mode: rkt run --stdin=stream --stdout=stream ..., or --stdin=tty --stdout=tty)`);
  }
  for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    try {
      return JSON.parse(readFileSync(attachEndpointsFile(app), 'utf8')) as AttachTargets;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (existsSync(join('stage1-status', app))) throw new Error(`app ${JSON.stringify(app)} has ended: nothing to attach to`);
    if (Date.now() > end) throw new Error(`app ${JSON.stringify(app)} has no endpoints yet (is it still starting?)`);
  }
}

/** Resolves once the socket is connected; rejects in one line when it cannot be. */
function connectTo(address: string, name: string, app: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // The mux's end of a connection (the app ended) ends this side too, and closes it: an attach returns then,
    // whatever is still open on this side (a terminal's stdin).
    const conn = connect({ path: address, allowHalfOpen: false });
    conn.once('connect', () => {
      // Once attached, a connection cut by the mux (its end after 1 s) just closes: the attach returns then.
      conn.on('error', () => {});
      resolve(conn);
    });
    conn.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot attach to the ${name} of app ${JSON.stringify(app)}: ${err.code ?? err.message} (it ended?)`)));
  });
}

/**
 * `coreos.com/rkt/stage1/attach` (rkt's interface: `--action=list|auto-attach|custom-attach --app=NAME`, and
 * for custom-attach `--tty-in --tty-out --stdin --stdout --stderr`, each true or false), in the pod directory.
 * `list` prints the app's endpoints file (its addresses made absolute, for other clients such as socat);
 * attaching connects this process's stdin to the app's stdin endpoint and its stdout and stderr to the app's
 * output endpoints, and returns once the app's output ends (the app ended), or, with no output attached,
 * once the app ended or this stdin did. Detaching (^C, a kill) leaves the app running.
 */
async function main(): Promise<number> {
  const { options } = parseEntrypointArgs(process.argv.slice(2));
  const action = options.get('action');
  const app = options.get('app');
  if (app === undefined || app === '' || (action !== 'list' && action !== 'auto-attach' && action !== 'custom-attach')) throw new Error(USAGE);
  const targets = await readTargets(app);
  if (action === 'list') {
    const absolute = { version: targets.version, targets: targets.targets.map((t) => ({ ...t, address: join(process.cwd(), t.address) })) };
    process.stdout.write(`${JSON.stringify(absolute, null, 4)}\n`);
    return 0;
  }
  const available = new Map(targets.targets.map((t) => [t.name, t] as const));
  let wanted: AttachEndpointName[];
  if (action === 'auto-attach') wanted = [...available.keys()];
  else {
    const asked = (flag: string) => options.get(flag) === 'true';
    wanted = (['stdin', 'stdout', 'stderr'] as const).filter((s) => asked(s));
    if (asked('tty-in') || asked('tty-out')) wanted.push('tty');
    const missing = wanted.filter((w) => !available.has(w));
    if (missing.length > 0) {
      throw new Error(`app ${JSON.stringify(app)} has no ${missing.join(', ')} endpoint (its endpoints: ${[...available.keys()].join(', ') || 'none'})`);
    }
  }
  // Every connection is made before any byte moves: one that fails leaves nothing half attached.
  const conns = new Map<AttachEndpointName, Socket>();
  try {
    for (const name of wanted) conns.set(name, await connectTo(available.get(name)!.address, name, app));
  } catch (err) {
    for (const c of conns.values()) c.destroy();
    throw err;
  }
  const tty = conns.get('tty');
  if (tty !== undefined) {
    const ttyIn = action === 'auto-attach' || options.get('tty-in') === 'true';
    const ttyOut = action === 'auto-attach' || options.get('tty-out') === 'true';
    if (ttyIn && process.stdout.isTTY) await sendTerminalSize(join(dirname(available.get('tty')!.address), TTY_SIZE_SOCKET));
    return attachTty(tty, ttyIn, ttyOut);
  }
  return new Promise<number>((resolve) => {
    const outputs = (['stdout', 'stderr'] as const).filter((s) => conns.has(s));
    let open = outputs.length;
    for (const s of outputs) {
      const conn = conns.get(s)!;
      conn.pipe(s === 'stdout' ? process.stdout : process.stderr, { end: false });
      conn.once('close', () => {
        if (--open === 0) resolve(0);
      });
    }
    const stdin = conns.get('stdin');
    if (stdin !== undefined) {
      process.stdin.pipe(stdin);
      // Nothing else to wait for: the app's end (the mux closes this), or this stdin's after it was sent.
      if (outputs.length === 0) stdin.once('close', () => resolve(0));
    }
  });
}

/**
 * This terminal's size to the app's pty, now and on every change (SIGWINCH), through the mux's size socket; a
 * mux without one (no TIOCSWINSZ where the pod runs) leaves the app's terminal at 24x80.
 */
async function sendTerminalSize(path: string): Promise<void> {
  const conn = await new Promise<Socket | undefined>((resolve) => {
    const c = connect({ path });
    c.once('connect', () => resolve(c));
    c.once('error', () => resolve(undefined));
  });
  if (conn === undefined) return;
  conn.on('error', () => {});
  const send = (): void => {
    if (!conn.destroyed) conn.write(`${process.stdout.rows} ${process.stdout.columns}\n`);
  };
  send();
  process.stdout.on('resize', send);
  // Not what keeps this process alive: the tty connection is.
  conn.unref();
}

/**
 * What cfmakeraw(3) clears or sets that Node's raw mode (libuv's) leaves as it was: output post-processing above
 * all (libuv keeps OPOST and even sets ONLCR, so the app's `\n`, which its own terminal has already made `\r\n`,
 * showed as `\r\r\n`), and IGNBRK, PARMRK, INLCR, IGNCR, ECHONL, PARENB with 8-bit characters. Given to stty(1)
 * on this terminal once Node's raw mode is on: Node cannot set a terminal's flags itself.
 */
const CFMAKERAW_REST = ['-ignbrk', '-parmrk', '-inlcr', '-igncr', '-opost', '-echonl', '-parenb', 'cs8'];

/**
 * This terminal as cfmakeraw(3) leaves one: Node's raw mode, then the rest through stty. Undone whole by Node's
 * `setRawMode(false)` (libuv restores every flag it read before its raw mode), which every way out of this
 * process runs: its exit, a signal that ends it (SIGTERM, SIGHUP: the terminal closed; SIGINT, SIGQUIT sent by
 * another process, since the terminal sends none in raw mode).
 */
function makeRaw(): void {
  process.stdin.setRawMode(true);
  process.once('exit', () => process.stdin.setRawMode(false));
  for (const [sig, status] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130], ['SIGQUIT', 131]] as const) process.once(sig, () => process.exit(status));
  // Without stty (not on this PATH), Node's raw mode alone: the output shows its line ends doubled.
  spawnSync('stty', CFMAKERAW_REST, { stdio: ['inherit', 'ignore', 'ignore'] });
}

/**
 * rkt's tty attach: this terminal, raw while attached (restored however the attach ends), relayed byte for byte
 * to the app's pty both ways: ^C and every other key go to the app, whose terminal echoes and edits, and what the
 * app's terminal gives reaches this one as it is. `tty-out` alone only shows the terminal, `tty-in` alone only
 * types into it. Returns when the mux closes the connection (the app ended); without the output, also when this
 * stdin ends.
 */
function attachTty(conn: Socket, ttyIn: boolean, ttyOut: boolean): Promise<number> {
  if (ttyIn && process.stdin.isTTY) makeRaw();
  return new Promise<number>((resolve) => {
    if (ttyOut) conn.pipe(process.stdout, { end: false });
    else conn.resume();
    // Its end half-closes the connection: the terminal's output still comes until the app ends.
    if (ttyIn) process.stdin.pipe(conn);
    conn.once('close', () => resolve(0));
  });
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('attach', err),
);
