import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AttachEndpointName, AttachTargets } from '@rkt/controller/stage1-abi';
import { attachEndpointsFile } from '../attach-mux.js';
import { fail, parseEntrypointArgs } from './args.js';

const USAGE = 'usage: attach --action=list|auto-attach|custom-attach --app=NAME [--tty-in=BOOL --tty-out=BOOL --stdin=BOOL --stdout=BOOL --stderr=BOOL]';

/** The app's endpoints file, written by the process running the pod while the app runs (attach-mux.ts). */
function readTargets(app: string): AttachTargets {
  let text: string;
  try {
    text = readFileSync(attachEndpointsFile(app), 'utf8');
  } catch {
    throw new Error(`app ${JSON.stringify(app)} has no endpoints to attach to (none of its streams is in stream mode, or it is not running)`);
  }
  return JSON.parse(text) as AttachTargets;
}

/** Resolves once the socket is connected; rejects in one line when it cannot be. */
function connectTo(address: string, name: string, app: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const conn = connect({ path: address, allowHalfOpen: true });
    conn.once('connect', () => resolve(conn));
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
  const targets = readTargets(app);
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
      stdin.on('error', () => {});
      // Nothing else to wait for: the app's end (the mux closes this), or this stdin's after it was sent.
      if (outputs.length === 0) stdin.once('close', () => resolve(0));
    }
  });
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => fail('attach', err),
);
