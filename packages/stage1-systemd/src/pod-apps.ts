// The app entrypoints of a mutable pod (interface version 5, rkt's `rkt app add/start/stop/rm`): each runs in the
// pod directory with `--app=NAME --uuid=UUID [--debug]` (add also rkt's `--disable-*`), the pod's PID 1 in
// RKT_STAGE1_ENTERPID (rkt's crossing entrypoints' variable), while the pod runs. They act on the pod's systemd
// with its own systemctl, in the pod's mount and pid namespaces.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '@rkt/image-store/fsutil';
import { parseDnsConfMode } from '@rkt/controller/stage1-abi';
import { dnsContents, writeEtcFiles } from './etc-files.js';
import { appEnvironment } from './environment.js';
import { parseEntrypointArgs } from './entrypoints/args.js';
import { appDirectives, type AppIsolation, type InsecureIsolation } from './isolators.js';
import { insecureIsolation, PodIsolation } from './pod-isolation.js';
import { readMutablePodSettings, type MutablePodSettings } from './mutable-pod.js';
import { readOnlyRootLines } from './read-only-root.js';
import { appUnitSpec, type PodApp } from './app-unit-spec.js';
import { addedAppStreamModes, addedAppTtyPath, hasAttachMux, requestAddedStreams } from './added-streams.js';
import { usesTty } from './attach-mux.js';
import {
  appStartedPath,
  appStatusPath,
  appUnit,
  appUnitName,
  commandsBeforeMain,
  needsReaper,
  parseAppStatus,
  reaperUnit,
  reaperUnitName,
  stoppedBeforeMain,
} from './units.js';

/** An app entrypoint's call: the pod, the app, the pod's PID 1. */
export interface AppCall {
  readonly pod: string;
  readonly uuid: string;
  readonly app: string;
  readonly pid1: number;
  readonly options: ReadonlyMap<string, string>;
  readonly debug: boolean;
}

/**
 * Reads an app entrypoint's arguments and environment; throws one line on what is missing. `pod`: the pod
 * directory, the executable's working directory (a caller of the module gives it, and runs it there too).
 */
export function appCall(entrypoint: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env, pod = process.cwd()): AppCall {
  const { options } = parseEntrypointArgs(argv);
  const app = options.get('app');
  const uuid = options.get('uuid');
  const pid = env.RKT_STAGE1_ENTERPID;
  if (app === undefined || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(app) || uuid === undefined || !/^[0-9a-f-]+$/.test(uuid)) {
    throw new Error(`usage: ${entrypoint} --app=NAME --uuid=UUID [--debug], with RKT_STAGE1_ENTERPID`);
  }
  if (pid === undefined || !/^[0-9]+$/.test(pid) || Number(pid) <= 1) throw new Error(`RKT_STAGE1_ENTERPID must be the pod's PID 1 (got ${JSON.stringify(pid ?? '')})`);
  return { pod, uuid, app, pid1: Number(pid), options, debug: options.get('debug') === 'true' };
}

/**
 * Runs the pod's systemctl in the pod (its mount and pid namespaces, through the host's nsenter): it talks to the
 * pod's systemd on its private socket. Throws one line with systemctl's own message on failure.
 */
export function systemctl(call: AppCall, args: readonly string[], allowFailure = false): number {
  return checked(args, systemctlRun(call, args), allowFailure);
}

/** A systemctl's exit status; throws one line with its own message when it failed, unless `allowFailure`. */
function checked(args: readonly string[], r: InPodResult, allowFailure = false): number {
  if (r.status !== 0 && !allowFailure) {
    const said = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n')[0] ?? '';
    throw new Error(`systemctl ${args.join(' ')} in the pod failed (exit ${r.status})${said !== '' ? `: ${said}` : ''}`);
  }
  return r.status ?? 1;
}

interface InPodResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `systemctl ARGS` in the pod, through nsenter: its exit status and output. */
function systemctlRun(call: AppCall, args: readonly string[]): InPodResult {
  return runInPod(call, ['/bin/systemctl', ...args]);
}

/** A program of the pod's root run in the pod, through nsenter: its exit status and output. */
function runInPod(call: AppCall, command: readonly string[]): InPodResult {
  waitForSystemd(call.pid1);
  // A pod of its own user namespace (`--private-users`): its systemd answers on its private socket only to its
  // root, and the host's root is nobody there (65534): systemctl joins the namespace too, as its root.
  const user = ownUserNamespace(call.pid1) ? ['--user'] : [];
  const argv = ['--target', String(call.pid1), ...user, '--mount', '--pid', '--', ...command];
  if (call.debug) process.stderr.write(`stage1-systemd app: nsenter ${argv.join(' ')}\n`);
  const r = spawnSync('nsenter', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error !== undefined) throw new Error(`cannot run nsenter: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * Whether the app's main process was executed at or after `sinceUs` (CLOCK_MONOTONIC, in microseconds: the
 * pod shares the host's kernel clock) and has exited or been killed since: systemd's record of the unit's main
 * process, not an exit status of systemd's own (200-243: it could not set up or execute the app).
 */
function ranAndEnded(call: AppCall, sinceUs: bigint): boolean {
  const r = systemctlRun(call, ['show', '--property=ExecMainStartTimestampMonotonic', '--property=ExecMainCode', '--property=ExecMainStatus', appUnitName(call.app)]);
  if (r.status !== 0) return false;
  const p = Object.fromEntries(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const started = /^[0-9]+$/.test(p.ExecMainStartTimestampMonotonic ?? '') ? BigInt(p.ExecMainStartTimestampMonotonic!) : 0n;
  const status = Number(p.ExecMainStatus);
  // ExecMainCode: 1 exited, 2 killed, 3 dumped (siginfo's CLD_*).
  return started >= sinceUs && ['1', '2', '3'].includes(p.ExecMainCode ?? '') && !(p.ExecMainCode === '1' && status >= 200 && status <= 243);
}

/** Whether the pod's PID 1 is in a user namespace other than this process's (nsenter --user into one's own fails). */
function ownUserNamespace(pid1: number): boolean {
  try {
    return readlinkSync(`/proc/${pid1}/ns/user`) !== readlinkSync('/proc/self/ns/user');
  } catch {
    return false;
  }
}

/** How long an app entrypoint waits for the pod's systemd to listen, in a pod that is still booting. */
const SYSTEMD_WAIT_MS = 10_000;

/**
 * Waits, briefly, until the pod's systemd listens on its private socket (seen through its PID 1's root): a pod
 * whose pid is known may still be booting, where systemctl would fail to connect. rkt refused such a pod
 * ("supervisor ... is not yet ready"); it is a matter of milliseconds here.
 */
function waitForSystemd(pid1: number): void {
  const socket = `/proc/${pid1}/root/run/systemd/private`;
  for (const end = Date.now() + SYSTEMD_WAIT_MS; !existsSync(socket); ) {
    if (Date.now() > end || !existsSync(`/proc/${pid1}`)) throw new Error(`the pod's systemd (pid ${pid1}) is not ready: no ${socket}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function manifestApp(call: AppCall): PodApp {
  const manifest = JSON.parse(readFileSync(join(call.pod, 'pod'), 'utf8')) as { apps?: PodApp[] };
  const found = (manifest.apps ?? []).find((a) => a.name === call.app);
  if (found === undefined) throw new Error(`the pod manifest has no app ${JSON.stringify(call.app)}`);
  return found;
}

/** Adds IDs missing from the pod's passwd or group file, in place: the file is bound into the pod by its inode. */
function addIds(file: string, ids: readonly number[], line: (id: number) => string): void {
  const known = new Set(readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')[2]));
  const missing = ids.filter((id) => !known.has(String(id)));
  if (missing.length > 0) appendFileSync(file, missing.map(line).join(''));
}

/**
 * The isolation of an app added to the running pod (`app` its pod manifest entry's `app`), `given` app add's
 * --disable-* (the pod's own apply too): its isolators checked, and refused when they need of the pod's nspawn
 * more than its defaults. Needs nothing of the app's root: app/add asks it, and so does its module's `check`,
 * which stage0 calls before it writes anything for the app.
 */
function addedAppIsolation(settings: MutablePodSettings, uuid: string, name: string, app: unknown, given: InsecureIsolation): AppIsolation {
  const own = settings.insecure;
  const isolation = new PodIsolation(uuid, { capabilities: given.capabilities || own.capabilities, paths: given.paths || own.paths, seccomp: given.seccomp || own.seccomp });
  const iso = isolation.isolateApp(name, app);
  // The running pod's nspawn was started with none of what an app may need of it beyond its defaults (a sandbox
  // has no apps then): rather than an app that silently runs without its limits or capabilities, a refusal.
  const beyond = isolation.beyondNspawnDefaults();
  if (beyond.controllers.length > 0) {
    throw new Error(`app ${name}: its resource isolators (--memory, --cpu, --cpu-shares) need the ${beyond.controllers.join(' and ')} cgroup controller${beyond.controllers.length > 1 ? 's' : ''}, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)`);
  }
  if (beyond.capabilities.length > 0) {
    throw new Error(`app ${name}: ${beyond.capabilities.join(', ')} cannot be given in a running mutable pod: its systemd-nspawn started with its default capabilities only`);
  }
  return iso;
}

/**
 * What app/add would refuse of `app` (the pod manifest entry stage0 is about to write) before its root exists: its
 * isolators (`addedAppIsolation`). Reads the pod directory, writes nothing.
 */
export function checkAddedApp(pod: string, uuid: string, app: unknown, given: InsecureIsolation): void {
  const a = app as Partial<PodApp> | null;
  if (typeof a?.name !== 'string') throw new Error('the app to check has no name');
  addedAppIsolation(readMutablePodSettings(pod), uuid, a.name, a.app, given);
}

/**
 * `coreos.com/rkt/stage1/app/add`: the app is in the pod manifest and its root mounted at `appsinfo/<app>/rootfs`
 * by stage0 (seen in the pod at /opt/stage2/<app>/rootfs through the shared mount run made). Checks the app as run
 * checks the pod's (isolators, user, group, exec, working directory), writes its /etc files and its unit, and has
 * the pod's systemd load it. Nothing is started.
 */
export async function addApp(call: AppCall): Promise<void> {
  const settings = readMutablePodSettings(call.pod);
  const a = manifestApp(call);
  // Its isolators first, as the module's check (stage0's, before the add) has them: one refusal either way.
  const iso = addedAppIsolation(settings, call.uuid, a.name, a.app, insecureIsolation(call.options));
  const rootfs = join(call.pod, 'appsinfo', a.name, 'rootfs');
  // Its streams on sockets the process running the pod serves, as the pod's own apps' are: in the default log
  // mode its output relayed to that process's stdout and stderr and into the pod's app log (GetLogs), as rkt's
  // added apps went to the pod's journal; rkt's --stdin/--stdout/--stderr of app add through its attach mux.
  const modes = addedAppStreamModes(a);
  const stdin = modes.stdin === 'stream' ? 'fifo' : 'null';
  const spec = await appUnitSpec(rootfs, a, [...appEnvironment(a.name, a.app?.environment ?? [], undefined), ...settings.environment], stdin);
  // rkt's tty mode: the pty the process running the pod opens as it serves the app, bound where its unit opens it.
  if (usesTty(modes)) {
    spec.tty = { stdin: modes.stdin === 'tty', stdout: modes.stdout === 'tty', stderr: modes.stderr === 'tty' };
    spec.ttyPath = addedAppTtyPath(a.name);
  }
  spec.serviceExtra = [...appDirectives(iso, spec.uid), ...(a.readOnlyRootFS === true ? readOnlyRootLines(rootfs) : [])];
  const dns = settings.dnsConfMode !== undefined ? dnsContents(call.pod, parseDnsConfMode(settings.dnsConfMode), settings.hostname) : {};
  const etc = await writeEtcFiles(rootfs, a.name, { hostname: settings.hostname, ...dns, ...(settings.owner !== undefined ? { owner: settings.owner } : {}) });
  if (call.debug) for (const note of etc.notes) process.stderr.write(`stage1-systemd app/add: app ${a.name}: ${note}\n`);
  if (etc.binds.length > 0) {
    const dir = join(call.pod, 'stage1-app-etc', a.name);
    mkdirSync(dir, { recursive: true });
    for (const b of etc.binds) writeFileSync(join(dir, basename(b.path)), b.content, { mode: 0o644 });
    spec.etcBinds = etc.binds.map((b) => b.path);
  }
  addIds(join(call.pod, 'stage1-etc', 'passwd'), [spec.uid], (u) => `rkt-${u}:x:${u}:65534::/:/bin/sh\n`);
  addIds(join(call.pod, 'stage1-etc', 'group'), [spec.gid, ...(spec.supplementaryGids ?? [])], (g) => `rkt-${g}:x:${g}:\n`);
  const units = join(call.pod, 'stage1-units');
  const reaper = needsReaper(spec, false);
  const unit = appUnit(spec, { reaped: reaper, markStarted: true, mutable: true });
  // Served before the unit exists: nothing of it can connect to sockets nobody listens on.
  await requestAddedStreams({ app: a.name, action: 'serve', ...(spec.stdin === 'fifo' ? { stdinAfter: commandsBeforeMain(unit) } : {}) });
  const written = [join(units, appUnitName(a.name)), ...(reaper ? [join(units, reaperUnitName(a.name))] : [])];
  try {
    writeFileSync(written[0]!, unit);
    if (reaper) writeFileSync(written[1]!, reaperUnit(a.name, undefined, true));
    if (!settings.debug) keepQuietAfterReload(call.pid1);
    systemctl(call, ['daemon-reload']);
  } catch (err) {
    // Undone (stage0 then takes the app out of the manifest): no unit of it left for a later reload to load, and
    // its sockets served no more. A kill here leaves them served, which the next add of the name serves again.
    for (const f of written) rmSync(f, { force: true });
    await requestAddedStreams({ app: a.name, action: 'remove' }).catch(() => {});
    throw err;
  }
}

/**
 * A daemon-reload makes the pod's systemd read its configuration again, where the quiet of its command line
 * (`--show-status=0 --log-target=null`, nspawn.ts) is not: it would then print its status lines on the pod's
 * console, which is rkt's output. The same settings as a drop-in of the pod's own /run (through its PID 1's
 * root), read at every reload.
 */
function keepQuietAfterReload(pid1: number): void {
  const dir = `/proc/${pid1}/root/run/systemd/system.conf.d`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '50-rkt-quiet.conf'), '[Manager]\nShowStatus=no\nLogTarget=null\n');
}

/** The app's units, its reaper's first when it has one (started before it, stopped after it). */
function appUnits(call: AppCall): string[] {
  return [...(existsSync(join(call.pod, 'stage1-units', reaperUnitName(call.app))) ? [reaperUnitName(call.app)] : []), appUnitName(call.app)];
}

/** Forgets the app's last run: its status, started marker and exit, so that `rkt app status` does not show it. */
function clearStatus(call: AppCall): void {
  const status = join(call.pod, 'stage1-status');
  rmSync(join(status, basename(appStatusPath(call.app))), { force: true });
  rmSync(join(status, basename(appStartedPath(call.app))), { force: true });
  rmSync(join(call.pod, 'appsinfo', call.app, 'exit'), { force: true });
}

/**
 * The process running the pod serves the app's attach endpoints again (its mux ended with its last run), when it
 * has stream modes: asked before the unit starts, with what its unit's commands connect to its stdin socket. Its
 * output sockets (the log mode's too) are served from its add until its rm.
 */
async function serveStreamsAgain(call: AppCall, unitPath: string): Promise<void> {
  const modes = addedAppStreamModes(manifestApp(call));
  if (!hasAttachMux(modes) && !usesTty(modes)) return;
  const unit = readFileSync(unitPath, 'utf8');
  const fifo = unit.includes(`StandardInput=file:`);
  await requestAddedStreams({ app: call.app, action: 'serve', ...(fifo ? { stdinAfter: commandsBeforeMain(unit) } : {}) });
}

/** `coreos.com/rkt/stage1/app/start`: starts the app's unit (again, after a stop). */
export async function startApp(call: AppCall): Promise<void> {
  const unitPath = join(call.pod, 'stage1-units', appUnitName(call.app));
  if (!existsSync(unitPath)) throw new Error(`app ${JSON.stringify(call.app)} was not added to the pod`);
  clearStatus(call);
  await serveStreamsAgain(call, unitPath);
  const units = appUnits(call);
  const sinceUs = process.hrtime.bigint() / 1000n;
  try {
    // Its failed state and start-rate count reset first (a failure there is no matter: a unit that never failed),
    // in the same nsenter as the start, whose status and message are the entrypoint's: one process less.
    const script = '/bin/systemctl reset-failed "$@" > /dev/null 2>&1; exec /bin/systemctl start "$@"';
    checked(['start', ...units], runInPod(call, ['/bin/dash', '-c', script, 'rkt-app-start', ...units]));
  } catch (err) {
    // systemd fails the start job of a Type=exec unit whose main process exits non-zero before the job has seen
    // its exec succeed (an app that ends at once, on a loaded machine: both reach systemd together). The app
    // did run, and its end is recorded as any run's (the reaper's status, the exit event): the start worked.
    if (!ranAndEnded(call, sinceUs)) throw err;
  }
}

/**
 * `coreos.com/rkt/stage1/app/stop`: stops the app's unit (SIGTERM, SIGKILL after the grace), which records its
 * status as it ends, and publishes its exit status in `appsinfo/<app>/exit`, as run does for the apps it ran.
 */
export async function stopApp(call: AppCall): Promise<void> {
  systemctl(call, ['stop', ...appUnits(call)]);
  let text: string;
  try {
    text = readFileSync(join(call.pod, 'stage1-status', basename(appStatusPath(call.app))), 'utf8');
  } catch {
    return; // Never started: nothing to report.
  }
  // Stopped before its main process ran: the stop's signal, as run reports such an app.
  const status = stoppedBeforeMain(text) ? 143 : parseAppStatus(text);
  await writeFileAtomic(join(call.pod, 'appsinfo', call.app, 'exit'), `${status}\n`, { tmpName: `.exit.${process.pid}.tmp` });
}

/** `coreos.com/rkt/stage1/app/rm`: stops the app if it runs and removes its units and files from the pod. */
export async function removeApp(call: AppCall): Promise<void> {
  const units = appUnits(call);
  systemctl(call, ['stop', ...units], true);
  // Its streams served no more (its log's last lines written as they closed), its attach endpoints gone.
  await requestAddedStreams({ app: call.app, action: 'remove' });
  for (const u of units) rmSync(join(call.pod, 'stage1-units', u), { force: true });
  rmSync(join(call.pod, 'stage1-app-etc', call.app), { recursive: true, force: true });
  systemctl(call, ['daemon-reload']);
  systemctl(call, ['reset-failed', ...units], true);
  clearStatus(call);
}
