import { chownSync, existsSync, fchownSync, lchownSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '@rkt/image-store/fsutil';
import { basename, dirname, join, resolve } from 'node:path';
import { appStreamModes, childrenOf, isDefaultStreamModes, parseDnsConfMode, type AppStreamModes } from '@rkt/controller/stage1-abi';
import type { Stage1RunContext } from '@rkt/controller';
import type { NetworksPlan, PluginTimeouts } from '@rkt/cni';
import {
  appStartedPath,
  appStatusPath,
  appUnit,
  appUnitName,
  commandsBeforeMain,
  FIRST_FAILURE_FILE,
  parseAppStatus,
  podTarget,
  reaperUnit,
  reaperUnitName,
  needsReaper,
  stage2Root,
  stoppedBeforeMain,
  type AppStdin,
  type AppUnitSpec,
  appTtyPath,
} from './units.js';
import { killCgroupTrees, machineScopeName, nspawnHierarchyRoots, removeCgroupTree } from './cgroups.js';
import { appEnvironment } from './environment.js';
import { checkResolvConf, defaultHostname, dnsContents, writeEtcFiles, writeResolvConf } from './etc-files.js';
import { readOnlyRootLines } from './read-only-root.js';
import { hostRunsSystemd, nspawnArgs, podNetwork, podPrivateUsers } from './nspawn.js';
import { parseEntrypointArgs } from './entrypoints/args.js';
import { insecureIsolation, PodIsolation } from './pod-isolation.js';
import { isPidNamespaceInit, killPod, StopRequests, whenAllSettled } from './halt.js';
import { AppIoRelay } from './io-relay.js';
import { serveAddedStreams } from './added-streams.js';
import { AppAttachMux, type AppPty, usesTty } from './attach-mux.js';
import { watchPodOwner } from './pod-watch.js';
import { readStop, stopStatus, type StopKind } from './stop-note.js';
import { startProcess, type HostSpawn } from './spawn.js';
import { appUnitSpec, eventHandler, type PodApp } from './app-unit-spec.js';
import { shareAppsDir, STAGE2_DIR, watchMutableStatuses, writeMutablePodSettings } from './mutable-pod.js';
import { mountScriptEnv, mountShiftedStage1Root, mountStage1Root, MOUNT_SCRIPT, stage1Root } from './stage1-root.js';

/** How the run entrypoint was started: as its own process (the executable) or in stage0's (the run module). */
export interface RunHost extends HostSpawn, Pick<Stage1RunContext, 'mount' | 'idmapBind' | 'openPty' | 'ptyResize'> {
  /** The locked pod directory handle (RKT_LOCK_FD), kept open by whoever started the run for the pod's life. */
  readonly lockFd?: number;
  /**
   * Its own process, a child of stage0: the pod must also end when stage0 dies (kill -9), which leaves
   * this process running, re-parented. In stage0's process there is nobody to outlive it.
   */
  readonly ownProcess: boolean;
}

/** The pod manifest's `ports` (rkt's `--port`): an app's port NAME forwarded from the host. */
interface ExposedPort {
  name: string;
  hostPort: number;
  hostIP?: string;
  podPort?: { port?: number; protocol?: string };
}

/**
 * The pod's exposed ports as the portmap plugin takes them, as rkt's stage1 matched them (ForwardedPorts): an
 * entry with a `podPort` (`rkt app sandbox --port`'s form) forwards to that port of the pod, whether or not an
 * app has it (a mutable pod's apps come later); any other NAME is looked up among the apps' ports (the image's
 * port number and protocol). A host IP of 0.0.0.0 is every address of the host, as no host IP is (rkt's rules
 * matched any destination for it): not given to portmap, whose rules would match that address alone.
 */
function portMappings(ports: readonly ExposedPort[], apps: readonly PodApp[]): Array<{ hostPort: number; containerPort: number; protocol: 'tcp' | 'udp'; hostIP?: string }> {
  return ports.map((p) => {
    const port = p.podPort?.port !== undefined && p.podPort.protocol !== undefined ? { port: p.podPort.port, protocol: p.podPort.protocol } : apps.flatMap((a) => a.app?.ports ?? []).find((ap) => ap.name === p.name);
    if (port === undefined) throw new Error(`port ${JSON.stringify(p.name)}: no app of the pod has a port of that name`);
    const protocol = port.protocol.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw new Error(`port ${JSON.stringify(p.name)}: protocol ${JSON.stringify(protocol)} cannot be forwarded (tcp or udp)`);
    return { hostPort: p.hostPort, containerPort: port.port, protocol, ...(p.hostIP !== undefined && p.hostIP !== '0.0.0.0' ? { hostIP: p.hostIP } : {}) };
  });
}

/**
 * nspawn lines --quiet does not silence: its complaint about the propagation directory it may not delete
 * when the host's /run is not a tmpfs (run removes that directory itself), and its notice on SIGTERM,
 * which is how `rkt stop` asks the pod to halt.
 */
const QUIET_NSPAWN_LINES = [
  'Attempted to remove disk file system under "/run/systemd/nspawn/propagate/',
  'Trying to halt container. Send SIGTERM again to trigger immediate termination.',
];
/** How `rkt stop --force` (or a crash of rkt) ends a pod: the apps' statuses say it, as with fly. */
const KILLED_POD_LINE = /^Container rkt-[0-9a-f-]+ terminated by signal KILL\.$/;
/** nspawn's word for its child killed before the container was up: a `rkt stop --force` during the boot. */
const KILLED_EARLY_LINE = 'Child died too early.';

/**
 * The hierarchies nspawn manages cgroups in: the v2 one (at /sys/fs/cgroup on a unified host,
 * /sys/fs/cgroup/unified on a hybrid one) and v1's name=systemd, with this process's path in each.
 */
function nspawnHierarchies(): Array<{ root: string; path: string }> {
  const found: Array<{ root: string; path: string }> = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    if (controllers === '') {
      const root = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
      if (existsSync(join(root, 'cgroup.procs'))) found.push({ root, path });
    } else if (controllers === 'name=systemd' && existsSync('/sys/fs/cgroup/systemd/cgroup.procs')) {
      found.push({ root: '/sys/fs/cgroup/systemd', path });
    }
  }
  return found;
}

/**
 * A cgroup of its own per pod (`rkt-UUID` below this process's, in each hierarchy nspawn uses), for nspawn
 * to start in: unregistered nspawn (--keep-unit) puts its payload/ and supervisor/ cgroups below its own,
 * which two pods started from one cgroup would share. Returns the cgroup.procs files to enter and how to
 * remove the cgroups once nspawn has exited.
 */
function podCgroups(uuid: string): { dirs: string[]; procs: string[]; remove: () => void } {
  const dirs = nspawnHierarchies().map((h) => join(h.root, h.path, `rkt-${uuid}`));
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  return { dirs, procs: dirs.map((d) => join(d, 'cgroup.procs')), remove: () => dirs.forEach(removeCgroupTree) };
}

/**
 * nspawn started in the given cgroups, and after the pod's root is mounted when this process cannot mount it
 * itself (`mountEnv`, stage1-root.ts): a shell writes its own pid into each cgroup, runs mount(8), and
 * executes nspawn. This process stays where it is, so that nothing has to move back out before the cgroups
 * are removed: a move costs a kernel RCU grace period (~15 ms here) on cgroup v1.
 */
function throughShell(
  procs: readonly string[],
  mountEnv: Record<string, string> | undefined,
  command: string,
  args: readonly string[],
): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (procs.length === 0 && mountEnv === undefined) return { command, args: [...args], env: {} };
  const script = [
    ...(procs.length > 0 ? ['set -f; IFS=\'\n\'; for p in $RKT_CGROUP_PROCS; do echo $$ > "$p" || exit 254; done; unset RKT_CGROUP_PROCS'] : []),
    ...(mountEnv !== undefined ? [MOUNT_SCRIPT] : []),
    'exec "$@"',
  ].join('\n');
  return { command: '/bin/sh', args: ['-c', script, 'rkt-run', command, ...args], env: { ...(procs.length > 0 ? { RKT_CGROUP_PROCS: procs.join('\n') } : {}), ...mountEnv } };
}

/** How often run looks for the pod's PID 1 while nspawn sets the pod up (whenPodInit). */
const POD_INIT_POLL_MS = 5;

/**
 * Resolves with the pod's PID 1 once it is nspawn's only child (what a reader of `ppid` takes for the pod's
 * pid), or with undefined once nspawn has exited without one. Looked for, as nothing tells this process when
 * nspawn's outer child has cloned PID 1 and exited: tens of milliseconds after nspawn starts, a few looks.
 */
function whenPodInit(nspawnPid: number, nspawnExited: () => boolean): Promise<number | undefined> {
  return new Promise((resolve) => {
    const look = (): void => {
      const children = childrenOf(nspawnPid);
      const only = children.length === 1 ? children[0] : undefined;
      if (only !== undefined && isPidNamespaceInit(only)) return resolve(only);
      if (nspawnExited()) return resolve(undefined);
      setTimeout(look, POD_INIT_POLL_MS);
    };
    look();
  });
}

/** rkt's status when its output's reader went away, a shell's for a process killed by SIGPIPE (stage0-cli's). */
const EXIT_BROKEN_PIPE = 141;

/** Where a file of the pod's status directory (a path inside the pod) is on the host. */
function onHost(statusDir: string, inPod: string): string {
  return join(statusDir, inPod.slice(inPod.lastIndexOf('/') + 1));
}

/**
 * Statuses after nspawn exited, one for every app of a pod that was stopped or ended by itself: each app's
 * as its unit recorded it; an app that started but has none was killed with the pod (`rkt stop --force`, a
 * crash of rkt), by SIGKILL, as fly reports it; an app that never ran was stopped before it could, and
 * reports the signal its stop would have sent it (SIGKILL for --force, else SIGTERM: a halt, `rkt stop`'s
 * or the one that ends a pod whose sibling failed), as does one stopped by `rkt stop` during its
 * pre-start handler (`- - signal`). Only when nspawn itself failed, unstopped, do apps that never ran get
 * no status. The pod's status is the first failed app's (in time: it named itself), else 0; without any
 * app status, nspawn's own.
 */
function podStatuses(apps: readonly PodApp[], statusDir: string, nspawnStatus: number, stop: StopKind | undefined): { apps: Map<string, number>; pod: number } {
  const statuses = new Map<string, number>();
  const inPod = (p: string) => onHost(statusDir, p);
  // nspawn exits 0 when the pod's systemd halted: whatever had not run yet was stopped by that halt.
  const ended = stop ?? (nspawnStatus === 0 ? 'TERM' : undefined);
  for (const a of apps) {
    let text: string | undefined;
    try {
      text = readFileSync(inPod(appStatusPath(a.name)), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) statuses.set(a.name, stop !== undefined && stoppedBeforeMain(text) ? stopStatus(stop) : parseAppStatus(text));
    else if (stop === 'KILL' || existsSync(inPod(appStartedPath(a.name)))) statuses.set(a.name, stopStatus('KILL'));
    else if (ended !== undefined) statuses.set(a.name, stopStatus(ended));
  }
  let first: string | undefined;
  try {
    first = readFileSync(join(statusDir, FIRST_FAILURE_FILE), 'utf8').trim();
  } catch {
    first = undefined;
  }
  let pod = first !== undefined ? statuses.get(first) : undefined;
  pod ??= [...statuses.values()].find((s) => s !== 0);
  pod ??= statuses.size === 0 && nspawnStatus !== 0 ? nspawnStatus : 0;
  return { apps: statuses, pod };
}

/**
 * The same for a mutable pod (`--mutable`), whose apps end independently and never end the pod: an app that has a
 * status keeps it, one that started without recording one was killed with the pod (137 after a forced stop,
 * else the stop's signal), one never started gets none. The pod's status is its own: 0 once stopped (`rkt stop`,
 * as its user ends it) or halted, else nspawn's.
 */
function mutablePodStatuses(apps: readonly PodApp[], statusDir: string, nspawnStatus: number, stop: StopKind | undefined): { apps: Map<string, number>; pod: number } {
  const statuses = new Map<string, number>();
  for (const a of apps) {
    let text: string | undefined;
    try {
      text = readFileSync(onHost(statusDir, appStatusPath(a.name)), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) statuses.set(a.name, stoppedBeforeMain(text) ? stopStatus(stop ?? 'TERM') : parseAppStatus(text));
    else if (existsSync(onHost(statusDir, appStartedPath(a.name)))) statuses.set(a.name, stopStatus(stop ?? 'KILL'));
  }
  return { apps: statuses, pod: stop !== undefined || nspawnStatus === 0 ? 0 : nspawnStatus };
}

/** Where an app's exit status goes for stage0 (`rkt status`): `appsinfo/<app>/exit`. */
function appExitPath(pod: string, app: string): string {
  return join(pod, 'appsinfo', app, 'exit');
}

/**
 * Writes an app's exit status as the store writes its files (temp + fsync + rename, then the directory's
 * fsync): `rkt status` never sees it empty or half written, which it would take for "no status", even while
 * the end rewrites the one recorded during the run, and after a power loss that follows the run's end the
 * status is still there, as fly's is. The temp is a dotfile beside it, gone with the pod directory.
 */
function writeAppExit(pod: string, app: string, status: number): Promise<void> {
  const path = appExitPath(pod, app);
  return writeFileAtomic(path, `${status}\n`, { tmpName: `.exit.${process.pid}.${Math.random().toString(36).slice(2)}.tmp` });
}

/**
 * An app's exit status published while its pod still runs (rkt's `rkt status` showed `app-NAME=` for an app
 * that had ended in a running pod): the status its unit recorded, when its main process ran. One that never
 * ran (`- - success`, stopped while starting) is left for the end, whose stop decides it (podStatuses),
 * which rewrites every app's anyway. The write is awaited before the end's (`pending`), so that it cannot land
 * after it.
 */
function recordExitWhileRunning(pod: string, app: string, text: string, pending: Array<Promise<void>>): void {
  if (stoppedBeforeMain(text)) return;
  let status: number;
  try {
    status = parseAppStatus(text);
  } catch {
    // Unreadable: the end reports it.
    return;
  }
  // A failure means the app's directory is gone (the pod is being removed): nobody is left to read it.
  pending.push(writeAppExit(pod, app, status).catch(() => {}));
}

/**
 * The run entrypoint's work, in the pod directory (the working directory) for the pod's life: resolves with
 * the pod's exit status; throws on anything that stops it before or around the pod (the caller reports it).
 * Leaves nothing of its own behind in the process: its signal handlers, timers and watches end with it.
 */
export async function runPodStage1(argv: readonly string[], host: RunHost): Promise<number> {
  const stops = new StopRequests();
  const network: PodNetworkTeardown = {};
  try {
    return await runPod(argv, host, stops, network);
  } finally {
    stops.dispose();
    // The pod's CNI networks go with the pod, whichever way it ended (gc tears down those of a run killed).
    network.teardown?.();
  }
}

/** How run tears down the pod's CNI networks, once it has set them up. */
interface PodNetworkTeardown {
  teardown?: () => void;
}

/** The pod's CNI networks as their configurations give them (@rkt/cni, loaded only for such a pod), nothing run yet. */
interface PlannedNetworks {
  readonly cni: typeof import('@rkt/cni');
  readonly plan: NetworksPlan;
  /** How long each plugin call may take (RKT_CNI_ADD_TIMEOUT, RKT_CNI_DEL_TIMEOUT). */
  readonly timeouts: PluginTimeouts;
  readonly note: (line: string) => void;
}

/**
 * Loads the pod's networks and finds their plugins, before anything else of the pod: a configuration that
 * does not parse, a network nothing defines, a missing plugin refuse the pod here, and what the
 * configurations say of the results (a gateway, DNS) lets the apps' checks refuse it before any plugin runs.
 * So does a plugin deadline in the environment that is not a duration.
 */
async function planNetworks(netList: string, localConfig: string, stage1: string, debug: boolean): Promise<PlannedNetworks> {
  const cni = await import('@rkt/cni');
  const note = (line: string): void => {
    if (debug) process.stderr.write(`stage1-systemd run: networking: ${line}\n`);
  };
  return { cni, plan: cni.planPodNetworks({ netList, localConfig, stage1Rootfs: stage1, note }), timeouts: cni.pluginTimeouts(), note };
}

/**
 * rkt's CNI networks for the pod (`--net=default`, named networks): a network namespace of its own, joined to
 * each network by its plugins, for nspawn to run the pod in. Leases of host-local IPAM go to the data
 * directory's `networks` (the pod directory is `<data>/pods/run/UUID`), a built-in network's to the
 * machine's directory (@rkt/cni's BUILTIN_IPAM_DATA_DIR). Every plugin holds the pod's lock while it runs
 * (`holdFd`): one left running by a kill of this process keeps the pod from gc until it has finished.
 */
async function setUpNetworks(
  pod: string,
  uuid: string,
  planned: PlannedNetworks,
  network: PodNetworkTeardown,
  ports: ReturnType<typeof portMappings>,
  lockFd: number | undefined,
): Promise<SetUpNetworks> {
  const { cni, plan, timeouts, note } = planned;
  const held = { ...(lockFd !== undefined ? { holdFd: lockFd } : {}), timeouts };
  const teardown = (): void =>
    cni.teardownPodNetworks({ podDir: pod, uuid, ...held, note, warn: (line) => process.stderr.write(`stage1-systemd run: networking: ${line}\n`) });
  network.teardown = teardown;
  const { netnsPath, hostIP, nets, dns } = await cni.setupPodNetworks({
    podDir: pod,
    uuid,
    plan,
    ipamDataDir: join(resolve(pod, '..', '..', '..'), 'networks'),
    ...(ports.length > 0 ? { portMappings: ports } : {}),
    ...held,
    note,
  });
  return {
    netnsPath,
    ...(hostIP !== undefined ? { hostIP } : {}),
    netNames: nets.map((n) => n.netName),
    ...(dns !== undefined ? { resolvConf: cni.resolvConfFromDns(dns, dns.network) } : {}),
  };
}

/** What run keeps of the pod's CNI networks: where nspawn joins them, and the host's address on them. */
interface SetUpNetworks {
  readonly netnsPath: string;
  /** The host's address on the network of forwarded ports (the metadata service's), when its result gave one. */
  readonly hostIP?: string;
  readonly netNames: readonly string[];
  /** resolv.conf from the first network whose plugin gave DNS (rkt's `rkt-resolv.conf`), when one did. */
  readonly resolvConf?: string;
}

/**
 * rkt's AC_METADATA_URL for a pod on CNI networks: the service's port and the pod's token at the host's address
 * on the network that carries forwarded ports (rkt's GetForwardableNetHostIP, the gateway its plugin gave the
 * pod), which the apps reach from their own namespace, where stage0's 127.0.0.1 is the pod's own loopback.
 */
function mdsUrlOnNetwork(url: string, networks: SetUpNetworks): string {
  if (networks.hostIP === undefined) {
    throw new Error(`--mds-register: no IPv4 gateway in the results of the pod's networks (${networks.netNames.join(', ')}): the apps would have no address of the host to reach the metadata service at`);
  }
  const u = new URL(url);
  u.hostname = networks.hostIP;
  return u.toString();
}

/**
 * The stream modes of the apps that have others than the defaults (rkt's `--stdin/--stdout/--stderr` as app
 * annotations): `stream`, `null` and `tty` (a pseudo-terminal of the app's own, which needs stage0's `openPty`)
 * are served here. Refused in one line before anything of the pod starts: tty and stream in one app
 * (appStreamModes), tty without stage0's pty, and any mode with `--interactive` (which takes rkt's terminal or
 * stdin for its one app).
 */
function appsStreamModes(apps: readonly PodApp[], interactive: boolean, host: RunHost): Map<string, AppStreamModes> {
  const modes = new Map<string, AppStreamModes>();
  for (const a of apps) {
    const m = appStreamModes(a.name, a.annotations);
    if (isDefaultStreamModes(m)) continue;
    const tty = (['stdin', 'stdout', 'stderr'] as const).find((s) => m[s] === 'tty');
    if (tty !== undefined && host.openPty === undefined) {
      throw new Error(`app ${a.name}: --${tty}=tty needs stage0's pseudo-terminals (rkt-ts's stage0 running this entrypoint as its run module); executed, it has none`);
    }
    if (interactive) throw new Error(`app ${a.name}: --interactive cannot be combined with --stdin, --stdout or --stderr modes`);
    modes.set(a.name, m);
  }
  return modes;
}

async function runPod(argv: readonly string[], host: RunHost, stops: StopRequests, network: PodNetworkTeardown): Promise<number> {
  const { options, rest } = parseEntrypointArgs(argv);
  const uuid = rest[0];
  if (uuid === undefined) {
    throw new Error('usage: run [--debug] [--interactive] [--inherit-env] [--net=host|none|NETS] [--private-users=SHIFT:COUNT] [--hostname=NAME] [--local-config=DIR] [--dns-conf-mode=resolv=MODE,hosts=MODE] UUID');
  }
  const debug = options.get('debug') === 'true';
  // rkt's `rkt app sandbox` (interface version 5): the pod lives without apps until stopped, its apps come and go
  // through the app entrypoints (mutable-pod.ts, pod-apps.ts), and no app's end ends it.
  const mutable = options.get('mutable') === 'true';
  const interactive = options.get('interactive') === 'true';
  const hostname = options.get('hostname') ?? defaultHostname(uuid);
  const net = podNetwork(options.get('net'));
  const privateNetwork = net === 'none';
  const privateUsers = podPrivateUsers(options.get('private-users'));
  // The pod's root over the shared stage1 tree needs an idmapped mount, which only stage0's addon makes here:
  // run as a module in rkt-ts's stage0, not executed (util-linux's mount of this stage1 cannot).
  if (privateUsers !== undefined && (host.mount === undefined || host.idmapBind === undefined || host.listenUnix === undefined)) {
    throw new Error("--private-users: this run entrypoint needs stage0's idmapped mounts (rkt-ts's stage0 running it as its run module); executed, it cannot shift the pod's root");
  }
  const pod = process.cwd();
  // rkt run's DNS flags (interface version 4): the resolv.conf and hosts every app gets, read once.
  const dnsMode = options.get('dns-conf-mode');
  const dnsConfMode = dnsMode !== undefined ? parseDnsConfMode(dnsMode) : undefined;
  const dns = dnsConfMode !== undefined ? dnsContents(pod, dnsConfMode, hostname) : {};
  const manifest = JSON.parse(readFileSync(join(pod, 'pod'), 'utf8')) as { apps?: PodApp[] };
  const apps = manifest.apps ?? [];
  if (apps.length === 0 && !mutable) throw new Error('the pod has no apps');
  if (interactive && apps.length > 1) throw new Error(`--interactive needs a pod of exactly one app; this pod has ${apps.length}`);
  // rkt's --interactive: the terminal itself when there is one, else standard input relayed through a socket.
  const stdin: AppStdin = !interactive ? 'null' : process.stdin.isTTY ? 'tty' : 'fifo';
  // rkt's --stdin/--stdout/--stderr (RKT_EXPERIMENT_ATTACH): each app's modes from its annotations.
  const streamModes = appsStreamModes(apps, interactive, host);
  const inherited = options.get('inherit-env') === 'true' ? process.env : undefined;
  const stage1 = realpathSync(join(pod, 'stage1', 'rootfs'));
  // Forwarded ports name the apps' ports: checked with the rest of the pod, before any network is set up.
  const ports = typeof net === 'object' ? portMappings((manifest as { ports?: ExposedPort[] }).ports ?? [], apps) : [];

  // Every app is checked before the pod's CNI networks are set up, as all that can refuse it (its user and
  // group, its exec and working directory, its isolators, its /etc files) needs none of their results: a pod
  // refused in one line has run no plugin, taken no lease, made no namespace. Of what does need them (the
  // metadata service's address in the environment, a network's DNS in resolv.conf), what the networks'
  // configurations decide is checked here too; only what a plugin's result alone tells comes after.
  const planned = typeof net === 'object' ? await planNetworks(net.cni, options.get('local-config') ?? '/etc/rkt', stage1, debug) : undefined;
  // rkt run --mds-register leaves the pod's metadata service URL in the pod directory: every app gets it.
  const mdsUrlFile = join(pod, 'mds-url');
  const mdsUrl = existsSync(mdsUrlFile) ? readFileSync(mdsUrlFile, 'utf8').trim() : undefined;
  if (mdsUrl !== undefined && planned?.plan.noGateway !== undefined) {
    const name = planned.plan.nets[planned.plan.forwardable]!.conf.name;
    throw new Error(`--mds-register: the pod's network of forwarded ports, ${name}, can give no IPv4 gateway (${planned.plan.noGateway}): the apps would have no address of the host to reach the metadata service at`);
  }
  // rkt's rule: a network's DNS (its plugin's result) makes the apps' resolv.conf unless rkt run was given --dns
  // (a resolv mode other than default, which writeEtcFiles writes). When a network's configuration says its
  // result will carry DNS, each app's resolv.conf must be writable, checked now (checkResolvConf).
  const networkDns = planned !== undefined && (dnsConfMode === undefined || dnsConfMode.resolv === 'default') ? planned.plan.dns : 'never';
  // Isolators: each app's unit directives, and what nspawn needs for them (pod-isolation.ts).
  const isolation = new PodIsolation(uuid, insecureIsolation(options));
  isolation.forPod((manifest as { isolators?: unknown }).isolators);
  const unitsDir = join(pod, 'stage1-units');
  mkdirSync(unitsDir, { recursive: true });
  const appRoots: Array<{ host: string; pod: string }> = [];
  const appEtcDir = join(pod, 'stage1-app-etc');
  const specs: AppUnitSpec[] = [];
  // Each app's files to bind over its /etc (EtcFiles' binds), by the order of specs.
  const etcBinds: Array<Array<{ path: string; content: string }>> = [];
  const uids = new Set<number>([0, 65534]);
  const gids = new Set<number>([0, 65534]);
  // An app's status is written as its main process ends, before its post-stop handler runs (units.ts). With
  // no post-stop handler in the pod, the run entrypoint ends the pod once every app has a status; with one,
  // systemd's exit waits for the handlers.
  const postStopPod = apps.some((a) => eventHandler(a, 'post-stop') !== undefined);
  for (const a of apps) {
    const rootfs = join(pod, 'appsinfo', a.name, 'rootfs');
    // An app whose stdin is a `stream` reads it from its socket, fed by its attach mux.
    const appStdin: AppStdin = streamModes.get(a.name)?.stdin === 'stream' ? 'fifo' : stdin;
    const spec = await appUnitSpec(rootfs, a, appEnvironment(a.name, a.app?.environment ?? [], inherited), appStdin);
    spec.serviceExtra = [...(spec.serviceExtra ?? []), ...isolation.forApp(a.name, a.app, spec.uid), ...(a.readOnlyRootFS === true ? readOnlyRootLines(rootfs) : [])];
    uids.add(spec.uid);
    gids.add(spec.gid);
    for (const g of spec.supplementaryGids ?? []) gids.add(g);
    if (networkDns === 'always') await checkResolvConf(rootfs, a.name);
    const etc = await writeEtcFiles(rootfs, a.name, { hostname, ...dns, ...(privateUsers !== undefined ? { owner: privateUsers.shift } : {}) });
    if (debug) for (const note of etc.notes) process.stderr.write(`stage1-systemd run: app ${a.name}: ${note}\n`);
    specs.push(spec);
    etcBinds.push([...etc.binds]);
    appRoots.push({ host: rootfs, pod: stage2Root(a.name) });
  }

  // The CNI networks, before anything of nspawn's: a network that fails leaves the pod unstarted, in one line
  // (the caller tears down what was set up, whatever fails after).
  let networks: SetUpNetworks | undefined;
  if (planned !== undefined) networks = await setUpNetworks(pod, uuid, planned, network, ports, host.lockFd);
  const networkNamespacePath = networks?.netnsPath;
  // A result without an IPv4 gateway where the configuration did not rule one out refuses the pod here.
  const mdsEnv = mdsUrl !== undefined ? [{ name: 'AC_METADATA_URL', value: networks !== undefined ? mdsUrlOnNetwork(mdsUrl, networks) : mdsUrl }] : [];
  // The first network that gives DNS wins; an app whose resolv.conf cannot be written refuses the pod here
  // only when no configuration said DNS would come (networkDns 'maybe').
  const networkResolvConf = networks?.resolvConf !== undefined && (dnsConfMode === undefined || dnsConfMode.resolv === 'default') ? networks.resolvConf : undefined;
  for (const [i, spec] of specs.entries()) {
    spec.environment = [...spec.environment, ...mdsEnv];
    const binds = etcBinds[i]!;
    if (networkResolvConf !== undefined) {
      const etc = await writeResolvConf(appRoots[i]!.host, spec.name, networkResolvConf, privateUsers?.shift);
      if (debug) for (const note of etc.notes) process.stderr.write(`stage1-systemd run: app ${spec.name}: ${note}\n`);
      binds.push(...etc.binds);
    }
    if (binds.length > 0) {
      mkdirSync(join(appEtcDir, spec.name), { recursive: true });
      for (const b of binds) writeFileSync(join(appEtcDir, spec.name, basename(b.path)), b.content, { mode: 0o644 });
      spec.etcBinds = binds.map((b) => b.path);
    }
  }
  // What an app added later gets as these apps did (mutable-pod.ts, read by the app/add entrypoint).
  if (mutable) {
    mkdirSync(appEtcDir, { recursive: true });
    writeMutablePodSettings(pod, { hostname, debug, ...(dnsMode !== undefined ? { dnsConfMode: dnsMode } : {}), insecure: insecureIsolation(options), environment: mdsEnv, ...(privateUsers !== undefined ? { owner: privateUsers.shift } : {}) });
  }
  // Known once every app's isolators are: resource isolators on a hybrid host boot the pod with the legacy
  // cgroup layout (pod-isolation.ts).
  const legacyCgroups = isolation.env().SYSTEMD_NSPAWN_UNIFIED_HIERARCHY === '0';
  const exitWhenAllDone = postStopPod ? apps.map((x) => x.name) : undefined;
  const reaped: string[] = [];
  // For rkt's stdin relayed to an app: the connections to its stdin socket that come before the app's own.
  const stdinAfter = new Map<string, number>();
  // rkt's tty mode: a pty per such app, opened now (its slave is bound into the pod), kept by its mux. An app
  // whose output is all on its terminal connects to no socket: its unit marks its start itself.
  const ptys = new Map<string, AppPty>();
  for (const spec of specs) {
    const m = streamModes.get(spec.name);
    if (m === undefined || !usesTty(m)) continue;
    const pty = host.openPty!();
    // A terminal of 0 rows and columns until an attach gives its own (stty size fails on it): a VT100's.
    host.ptyResize?.(pty.master, 24, 80);
    // In a user namespace of the pod's own, the host's root that owns the slave is nobody: the pod's root could not
    // open it (its capabilities reach only files of IDs mapped there). Its root's, as nspawn makes its console.
    if (privateUsers !== undefined) fchownSync(pty.slave, privateUsers.shift, privateUsers.shift);
    ptys.set(spec.name, pty);
    spec.tty = { stdin: m.stdin === 'tty', stdout: m.stdout === 'tty', stderr: m.stderr === 'tty' };
  }
  for (const spec of specs) {
    const reaper = needsReaper(spec, legacyCgroups);
    const markStarted = stdin === 'tty' || (spec.tty !== undefined && spec.tty.stdout && spec.tty.stderr);
    const unit = appUnit(spec, { ...(exitWhenAllDone !== undefined ? { exitWhenAllDone } : {}), reaped: reaper, markStarted, mutable });
    writeFileSync(join(unitsDir, appUnitName(spec.name)), unit);
    if (spec.stdin === 'fifo') stdinAfter.set(spec.name, commandsBeforeMain(unit));
    if (reaper) {
      writeFileSync(join(unitsDir, reaperUnitName(spec.name)), reaperUnit(spec.name, exitWhenAllDone, mutable));
      reaped.push(spec.name);
    }
  }
  writeFileSync(join(unitsDir, 'default.target'), podTarget(apps.map((a) => a.name), reaped));
  // systemd resolves User=/Group= in the stage1's own databases and refuses IDs missing there (status
  // 217/USER), numeric ones included: the pod gets passwd and group files naming every app's IDs.
  const etcDir = join(pod, 'stage1-etc');
  mkdirSync(etcDir, { recursive: true });
  writeFileSync(join(etcDir, 'passwd'), [...uids].map((u) => `${u === 0 ? 'root' : `rkt-${u}`}:x:${u}:${u === 0 ? 0 : 65534}::/:/bin/sh\n`).join(''));
  writeFileSync(join(etcDir, 'group'), [...gids].map((g) => `${g === 0 ? 'root' : `rkt-${g}`}:x:${g}:\n`).join(''));

  // A run-prepared pod that ran before would otherwise carry the old statuses over.
  const statusDir = join(pod, 'stage1-status');
  rmSync(statusDir, { recursive: true, force: true });
  mkdirSync(statusDir, { recursive: true });
  for (const a of apps) rmSync(appExitPath(pod, a.name), { force: true });
  const ioDir = join(pod, 'stage1-io');
  mkdirSync(ioDir, { recursive: true });
  // Bound relative to the pod directory (this process's working directory): a socket path has at most 107 bytes.
  // systemd connects an app's streams in the exec child of its unit's first process, before any exec: the
  // app has started then, and is told from one never started if the pod is killed (podStatuses). Written
  // here rather than by a process of the unit's, which would cost the pod's start a fork.
  const markStarted = (app: string): void => writeFileSync(onHost(statusDir, appStartedPath(app)), '\n');
  // rkt's output gone (`rkt run | head -2`): the pod is halted as a stop would, its apps get their statuses,
  // and run exits as rkt's commands do when their reader goes away, 141 (128 + SIGPIPE), without a word.
  let outputFailure: NodeJS.ErrnoException | undefined;
  const outputFailed = (_stream: 'stdout' | 'stderr', err: NodeJS.ErrnoException): void => {
    outputFailure ??= err;
    stops.requestHalt();
  };
  // An app with a stream to attach to gets its mux (rkt's iomux) in this process, with the relay.
  const muxes = new Map(
    [...streamModes].filter(([, m]) => Object.values(m).includes('stream') || usesTty(m)).map(([app, m]) => [app, new AppAttachMux(app, m, ptys.get(app), host.ptyResize)] as const),
  );
  // The relay also appends the apps' log-mode output to the pod's stage1-log/apps.log (app-log.ts), which the
  // API's GetLogs serves; '.' is the pod directory (this process's cwd), wherever gc later moves it.
  const io = stdin === 'tty' ? undefined : new AppIoRelay('stage1-io', apps.map((a) => a.name), stdinAfter, markStarted, outputFailed, streamModes, muxes, '.');
  // With stage0's listenUnix the sockets exist from now on, and their servers (and node:net, ~4 ms to load)
  // come once nspawn is started, while the pod boots: an app's connection waits in the socket's queue.
  const serveLater = io !== undefined && host.listenUnix !== undefined;
  if (serveLater) io.bind(host.listenUnix!);
  else await io?.listen();
  // The pod's root writes the statuses and connects to the sockets (which takes write permission on them).
  if (privateUsers !== undefined) {
    for (const dir of [statusDir, ioDir]) {
      chownSync(dir, privateUsers.shift, privateUsers.shift);
      for (const name of readdirSync(dir)) lchownSync(join(dir, name), privateUsers.shift, privateUsers.shift);
    }
  }

  const libPath = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu/systemd']
    .map((d) => join(stage1, d))
    .join(':');
  const loader = join(stage1, 'lib64/ld-linux-x86-64.so.2');
  const root = stage1Root(pod, stage1);
  const systemdHost = hostRunsSystemd();
  // systemd-nspawn comes from the stage1 image, not the host: its own loader and libraries run it, so the
  // host needs no systemd at all.
  const args = [
    '--library-path',
    libPath,
    join(stage1, 'usr/bin/systemd-nspawn'),
    ...isolation.nspawnArgs(),
    ...nspawnArgs({
      directory: root.rootfs,
      uuid,
      unitsDir,
      passwdFile: join(etcDir, 'passwd'),
      groupFile: join(etcDir, 'group'),
      ioDir,
      statusDir,
      // A mutable pod binds it always: an app added later may need it.
      ...(mutable || specs.some((s) => s.etcBinds !== undefined) ? { appEtcDir } : {}),
      // A mutable pod's apps are all under one shared bind (shareAppsDir), which later apps' roots reach too.
      appRoots: mutable ? [{ host: join(pod, 'appsinfo'), pod: STAGE2_DIR }] : appRoots,
      ttys: [...ptys].map(([app, p]) => ({ host: p.path, pod: appTtyPath(app) })),
      ...(options.has('hostname') ? { hostname } : {}),
      privateNetwork,
      ...(networkNamespacePath !== undefined ? { networkNamespacePath } : {}),
      ...(privateUsers !== undefined ? { privateUsers } : {}),
      console: stdin === 'tty' ? 'interactive' : 'read-only',
      debug,
      systemdHost,
    }),
  ];
  // No lock on the pod's root (nspawn's image lock): it is the pod's own, and nspawn made its lock file in
  // /run/systemd/nspawn/locks, one per root, and left it there when killed.
  const env: NodeJS.ProcessEnv = { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1', SYSTEMD_NSPAWN_LOCK: '0', ...isolation.env() };
  if (debug) process.stderr.write(`stage1-systemd run: ${loader} ${args.join(' ')}\n`);
  // Stopped before it booted (a stop signal, or `rkt stop` while there was no nspawn to signal): no app ran,
  // and each reports the stop.
  // A stop signal to this entrypoint is a halt, as `rkt stop`'s.
  const stopped = (): StopKind | undefined => readStop(pod) ?? (stops.requested !== undefined ? 'TERM' : undefined);
  const stoppedEarly = stopped();
  if (stoppedEarly !== undefined) {
    await io?.close();
    await Promise.all(apps.map((a) => writeAppExit(pod, a.name, stopStatus(stoppedEarly))));
    return stopStatus(stoppedEarly);
  }
  // The pod's root, in the pod directory: mounted here with stage0's mount(2), else by the shell that starts
  // nspawn. Left mounted after the pod, as the apps' roots are, until gc.
  let mountEnv: Record<string, string> | undefined;
  try {
    mkdirSync(root.tmpfs, { recursive: true });
    if (privateUsers !== undefined) mountShiftedStage1Root(root, stage1, privateUsers, host.mount!, host.idmapBind!);
    else if (host.mount !== undefined) mountStage1Root(root, host.mount);
    else mountEnv = mountScriptEnv(root, loader, libPath, join(stage1, 'bin/mount'));
    if (mutable) shareAppsDir(pod, host.mount, { loader, libPath, mountBinary: join(stage1, 'bin/mount') });
  } catch (err) {
    await io?.close();
    throw err;
  }
  // Registered with machined, the pod gets a scope of its own; unregistered, it needs a cgroup of its own.
  const cgroups = systemdHost ? { dirs: [], procs: [], remove: () => {} } : podCgroups(uuid);
  const isolationCgroups = isolation.prepareCgroups(privateUsers?.shift);
  const start = throughShell([...cgroups.procs, ...isolationCgroups.procs], mountEnv, loader, args);
  // Without a terminal for the app, nspawn gets a process group of its own: a terminal's ^C (SIGINT to the
  // foreground group) would make it kill the pod outright; this process turns it into a clean stop.
  // A pod never outlives the process that runs it: a kill -9 of it leaves no code of its own to end the
  // pod (nspawn's death would not: the pod's systemd is re-parented and runs on), so a watcher does, told
  // nspawn's pid the moment nspawn exists.
  const owner = watchPodOwner(`rkt-${uuid}`, host.lockFd, host);
  let child: ReturnType<typeof startProcess>;
  try {
    child = startProcess(
      {
        command: start.command,
        args: start.args,
        env: { ...env, ...start.env },
        stdio: [stdin === 'tty' ? 'inherit' : 'ignore', 'inherit', 'pipe'],
        detached: stdin !== 'tty',
      },
      host,
    );
  } catch (err) {
    owner.podEnded();
    await owner.exited;
    cgroups.remove();
    isolationCgroups.remove();
    await io?.close();
    throw new Error(`could not start systemd-nspawn: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  owner.watch(child.pid);
  // nspawn's own stderr, minus the lines QUIET_NSPAWN_LINES names (all of them under --debug).
  const stderrDone = new Promise<void>((resolve) => {
    const stream = child.stderr;
    if (stream === undefined) return resolve();
    const line = (l: string): void => {
      if (!debug && (QUIET_NSPAWN_LINES.some((q) => l.startsWith(q)) || KILLED_POD_LINE.test(l))) return;
      if (!debug && l === KILLED_EARLY_LINE && readStop(pod) === 'KILL') return;
      process.stderr.write(`${l}\n`);
    };
    // Split by hand rather than with node:readline, which every pod start would pay to load for the few
    // lines nspawn writes, if any.
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) line(l.endsWith('\r') ? l.slice(0, -1) : l);
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      if (partial !== '') line(partial);
      resolve();
    });
  });
  const nspawnPid = child.pid;
  let nspawnDone = false;
  const nspawnExited = child.exited.finally(() => {
    nspawnDone = true;
    owner.podEnded();
  });
  // Stop signals to this entrypoint, ^C included, go to nspawn as SIGTERM: it halts the pod's systemd,
  // which stops each app (SIGTERM, then its post-stop handler), as `rkt stop` does.
  stops.haltThrough(nspawnPid, () => {
    try {
      process.kill(nspawnPid, 'SIGTERM');
    } catch {
      // Exited meanwhile: nothing is left to halt.
    }
  });
  // rkt's `ppid` way: the pod's PID 1 is the only child of the process `ppid` names, which stage0 (rkt status,
  // enter) and stop find from it. Written once nspawn's only child is the pod's PID 1, not as nspawn starts:
  // its one child is its outer child first, for milliseconds (more on a loaded machine), which then showed as
  // the pod's pid (rkt status, enter's --pid), was gone a moment later, and was what a stop killed.
  let setupFailure: unknown;
  const ppidWritten = whenPodInit(nspawnPid, () => nspawnDone)
    .then((init) => {
      if (init === undefined) return;
      // By rename, as fly writes `pid`: a reader never sees it empty (stage0 takes that for an error).
      writeFileSync(join(pod, 'ppid.tmp'), `${nspawnPid}\n`);
      renameSync(join(pod, 'ppid.tmp'), join(pod, 'ppid'));
      // A `rkt stop` that came while there was no ppid to find (stop-note.ts): carried out now.
      const stopBeforeStart = readStop(pod);
      if (stopBeforeStart === 'KILL') killPod(nspawnPid);
      else if (stopBeforeStart === 'TERM') stops.requestHalt();
    })
    .catch((err: unknown) => {
      // Without ppid nobody could stop the pod: it ends now, and the run reports why.
      setupFailure = err;
      killPod(nspawnPid);
    });
  // Every app has ended and its status is recorded: the pod is over, whatever systemd would still do. Each
  // app's exit status is published as soon as it is recorded, for `rkt status` of the running pod.
  const exitWrites: Array<Promise<void>> = [];
  const stopWatching = mutable
    ? watchMutableStatuses(statusDir, (app, text) => {
        recordExitWhileRunning(pod, app, text, exitWrites);
        // An added app's attaches return as it ends (added-streams.ts); a start gives it a new mux.
        io?.appEnded(app);
      })
    : whenAllSettled(
        statusDir,
        apps.map((a) => a.name),
        postStopPod ? () => {} : () => killPod(nspawnPid),
        (app, text) => {
          recordExitWhileRunning(pod, app, text, exitWrites);
          io?.appEnded(app);
        },
      );
  // As its own process, the same when stage0 dies (kill -9): this process is re-parented, and kills the
  // pod's PID 1, which ends the pod's every process.
  const parent = process.ppid;
  const orphaned = host.ownProcess
    ? setInterval(() => {
        if (process.ppid === parent) return;
        clearInterval(orphaned);
        killPod(nspawnPid);
      }, 100)
    : undefined;
  orphaned?.unref();
  let ioFailure: unknown;
  if (serveLater) {
    try {
      await io?.listen();
    } catch (err) {
      // The apps' output would have nowhere to go: the pod ends, and the run reports why.
      ioFailure = err;
      killPod(nspawnPid);
    }
  }
  // A mutable pod's added apps with stream modes: their sockets and muxes here too, as the app entrypoints ask.
  let stopAddedStreams: (() => void) | undefined;
  if (mutable && io !== undefined && ioFailure === undefined) {
    try {
      // rkt's tty mode for added apps needs stage0's ptys and mount(2) (the module's host); without them it is refused.
      const ttyHost = host.openPty !== undefined && host.ptyResize !== undefined && host.mount !== undefined ? { openPty: host.openPty, ptyResize: host.ptyResize, mount: host.mount } : undefined;
      stopAddedStreams = await serveAddedStreams(io, privateUsers?.shift, ttyHost);
    } catch (err) {
      ioFailure = err;
      killPod(nspawnPid);
    }
  }
  const status = await nspawnExited;
  stopAddedStreams?.();
  await ppidWritten;
  clearInterval(orphaned);
  stops.done();
  stopWatching();
  // nspawn's end does not end the pod when nspawn itself died (kill -9): its systemd and apps, re-parented
  // to the host's init, ran on, and held their stream sockets open, so this run waited on them for ever.
  // Everything left in the pod's cgroups (nspawn started in them, registered or not) is killed here; after
  // a pod that ended normally they are empty already (its PID 1's death ended its pid namespace).
  const podTrees = [
    ...cgroups.dirs,
    ...isolationCgroups.procs.map((p) => dirname(p)),
    // machined puts its machines' scopes in machine.slice: looked up there, not searched for, on every pod's end.
    ...(systemdHost ? nspawnHierarchyRoots().map((r) => join(r, 'machine.slice', machineScopeName(uuid))).filter((d) => existsSync(d)) : []),
  ];
  await killCgroupTrees(podTrees);
  await owner.exited;
  await stderrDone;
  rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  await io?.close();
  // nspawn leaves its payload/ and supervisor/ cgroups behind when it is not registered with machined.
  cgroups.remove();
  isolationCgroups.remove();
  if (ioFailure !== undefined) throw ioFailure;
  if (setupFailure !== undefined) throw setupFailure;
  // A mutable pod's apps are those of its manifest now (stage0 rewrites it as apps are added and removed).
  const endApps = mutable ? ((JSON.parse(readFileSync(join(pod, 'pod'), 'utf8')) as { apps?: PodApp[] }).apps ?? []) : apps;
  const result = mutable ? mutablePodStatuses(endApps, statusDir, status, stopped()) : podStatuses(endApps, statusDir, status, stopped());
  await Promise.all(exitWrites);
  await Promise.all([...result.apps].map(([app, s]) => writeAppExit(pod, app, s)));
  if (outputFailure?.code === 'EPIPE') return EXIT_BROKEN_PIPE;
  if (outputFailure !== undefined) throw new Error(`cannot write the pod's output: ${outputFailure.message}`, { cause: outputFailure });
  return result.pod;
}
