// Shared set-up of the pod tests: the BUILT bin/rkt run as a user runs it, a busybox image made from
// Debian's busybox-static, and a private data directory per test that is unmounted and removed even
// when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { callCgroupParents, killCallCgroup } from '@rkt/cni/call-cgroups';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { Stage1StoreTemplate } from './stage1-store.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const rktBin = join(repoRoot, 'bin', 'rkt');
const BUSYBOX = '/bin/busybox';

/** The stage1 images every pod scenario runs under: fly, and systemd (the default). */
export interface Stage1Under {
  name: 'fly' | 'systemd';
  aci: string;
}
const BUILT_STAGE1S = {
  fly: join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci'),
  systemd: join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci'),
} as const;
// The tests use hard links to the built images, made once per test process: a rebuild (rm -rf dist)
// during a run leaves them as they were, so every test of a run sees one stage1.
const snapshotDir = join(tmpdir(), `rkt-stage1s-${process.pid}`);
export const STAGE1S: readonly Stage1Under[] = (['fly', 'systemd'] as const).map((name) => ({ name, aci: join(snapshotDir, `${name}.aci`) }));
process.once('exit', () => rmSync(snapshotDir, { recursive: true, force: true }));
/**
 * Stores holding a stage1 (stage1-store.ts), shared by the test files of one run: under the vitest process's
 * own rkt-stage1s-PID, which global-setup.ts removes at the end of the run (and ensureBuilt once it is gone).
 */
const sharedStores = join(tmpdir(), `rkt-stage1s-${process.ppid}`, 'stores');
const storeTemplates = new Map<string, Stage1StoreTemplate>();

/** `npm test` builds first; a targeted run builds what the pod tests execute when it is missing (systemd's needs Debian's debs once). */
export function ensureBuilt(): void {
  const needed = [join(repoRoot, 'packages/stage0-cli/dist/cli.js'), ...Object.values(BUILT_STAGE1S)];
  if (!needed.every((p) => existsSync(p))) build();
  // Test workers may end without 'exit' handlers running: links of processes gone are removed here.
  for (const d of readdirSync(tmpdir())) {
    const m = /^rkt-stage1s-([0-9]+)$/.exec(d);
    if (m !== null && !existsSync(`/proc/${m[1]}`)) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
  mkdirSync(snapshotDir, { recursive: true });
  for (const s of STAGE1S) {
    if (existsSync(s.aci)) continue;
    try {
      linkSync(BUILT_STAGE1S[s.name], s.aci);
    } catch {
      copyFileSync(BUILT_STAGE1S[s.name], s.aci);
    }
  }
}

function build(): void {
  const r = spawnSync(
    join(repoRoot, 'node_modules/.bin/nx'),
    ['run-many', '-t', 'build', '-p', '@rkt/stage0-cli', '@rkt/stage1-fly', '@rkt/stage1-systemd', '--output-style=static'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false' },
    },
  );
  if (r.status !== 0) throw new Error(`build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** The cgroup directories this process lives in, in every hierarchy (a pod's cgroups are made below them). */
export function ownCgroupDirs(): string[] {
  return readFileSync('/proc/self/cgroup', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [, controllers, path] = line.split(':') as [string, string, string];
      if (controllers === '') return existsSync('/sys/fs/cgroup/unified') ? join('/sys/fs/cgroup/unified', path) : join('/sys/fs/cgroup', path);
      return join('/sys/fs/cgroup', controllers.replace(/^name=/, ''), path);
    })
    .filter((d) => existsSync(d));
}

/** The cgroups of one pod (`rkt-UUID` and everything below it) in every hierarchy, searched a few levels down. */
export function podCgroups(uuid: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number, inPod: boolean): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const mine = inPod || e.name === `rkt-${uuid}`;
      if (mine) found.push(join(dir, e.name));
      if (mine || depth < 4) walk(join(dir, e.name), depth + 1, mine);
    }
  };
  for (const root of new Set([...ownCgroupDirs(), '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'])) walk(root, 0, false);
  return [...new Set(found)];
}

/** Removes a cgroup and its children (rmdir is all a cgroup allows; a populated one stays and is reported). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Still populated: the test's own assertions report leftovers.
  }
}

/** Host processes whose command line names the pod (nspawn's --machine=rkt-UUID, or the pod directory). */
export function podProcesses(uuid: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(uuid) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
    } catch {
      // Exited while listing.
    }
  }
  return found;
}

/**
 * The test's one pod, collected: exited, none of its processes left, and `rkt gc` leaving no mount behind
 * (the pod tests of images with unusual /etc files, each of which runs one pod).
 */
export function expectOnePodCollected(env: RktEnv): void {
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
  expect(pods.map((p) => p.state)).toEqual(['exited']);
  expect(podProcesses(pods[0]!.name)).toEqual([]);
  const gc = env.run(['gc', '--grace-period=0s']);
  expect(gc.status, gc.stderr).toBe(0);
  expect(env.mounts()).toEqual([]);
}

/**
 * The host pid of a pod's app process, found by its argv[0] in the process tree of the pod's pid (fly:
 * the app itself; systemd: the pod's PID 1, systemd, whose service it is).
 */
export function appProcess(podPid: number, argv0: string): number | undefined {
  const queue = [podPid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === argv0) return pid;
      for (const t of readdirSync(`/proc/${pid}/task`)) {
        queue.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '').map(Number));
      }
    } catch {
      // Exited while walking.
    }
  }
  return undefined;
}

/**
 * A busybox ACI: /bin/busybox with applet links, users and groups to resolve names against, /tmp. Named
 * `example.com/busybox` unless `name` is given (`NAME.aci` beside the default's `busybox.aci`).
 */
export async function buildBusyboxAci(dir: string, name = 'example.com/busybox'): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  const base = name === 'example.com/busybox' ? 'busybox' : name.replace(/[^a-z0-9]+/g, '-');
  const layout = join(dir, `${base}-layout`);
  mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
  mkdirSync(join(layout, 'rootfs', 'etc'));
  mkdirSync(join(layout, 'rootfs', 'tmp'));
  mkdirSync(join(layout, 'rootfs', 'work'));
  copyFileSync(BUSYBOX, join(layout, 'rootfs', 'bin', 'busybox'));
  for (const applet of ['sh', 'echo', 'true', 'false', 'sleep', 'id', 'pwd', 'env', 'cat', 'ls', 'touch']) {
    symlinkSync('busybox', join(layout, 'rootfs', 'bin', applet));
  }
  writeFileSync(join(layout, 'rootfs', 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n');
  writeFileSync(join(layout, 'rootfs', 'etc', 'group'), 'root:x:0:\nstaff:x:50:\nusers:x:100:\n');
  // A file whose owner an app can name as its user and group (appc allows a path there).
  writeFileSync(join(layout, 'rootfs', 'work', 'owned'), '');
  chownSync(join(layout, 'rootfs', 'work', 'owned'), 4242, 4343);
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name,
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: {
        exec: ['/bin/sh', '-c', 'echo image-default'],
        user: '0',
        group: '0',
        environment: [{ name: 'FROM_IMAGE', value: 'image-value' }],
      },
    }),
  );
  const out = join(dir, `${base}.aci`);
  await buildAciFromLayout(layout, out);
  return out;
}

/**
 * The default busybox ACI (buildBusyboxAci) built once for the calling test file, for tests that only hand it to
 * rkt, which imports it into each test's own store: `path` is set once the file's `beforeAll` ran, and the file
 * removed after its last test.
 */
export function busyboxAciOfFile(): { readonly path: string } {
  const aci = { path: '' };
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-file-aci-'));
    aci.path = await buildBusyboxAci(dir);
  }, 600_000);
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  return aci;
}

/** Every process's pid with its /proc/PID/stat fields after the command name (state, ppid, pgrp...). */
function procStats(): { pid: number; fields: string[] }[] {
  const found: { pid: number; fields: string[] }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      found.push({ pid: Number(p), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') });
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/**
 * Kills the CNI plugin calls of these pods (found by their CNI_CONTAINERID) with their process groups: each
 * runs under timeout(1) in a session of its own (@rkt/cni's execPlugin), whatever it started with it. Returns how
 * many plugin processes it found.
 */
export function killCniPlugins(uuids: readonly string[]): number {
  if (uuids.length === 0) return 0;
  let found = 0;
  const self = readFileSync('/proc/self/stat', 'utf8');
  // Never this process's own group (vitest's worker).
  const own = self.slice(self.lastIndexOf(')') + 2).split(' ')[2];
  const wanted = new Set(uuids.map((u) => `CNI_CONTAINERID=${u}`));
  for (const { pid, fields } of procStats()) {
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!environ.some((e) => wanted.has(e))) continue;
    found++;
    const pgrp = Number(fields[2]);
    if (pgrp > 1 && String(pgrp) !== own) killQuietly(-pgrp);
    killQuietly(pid);
  }
  return found;
}

/** Kills every process that has the directory open (a pod's lock is an open handle of its directory). */
function killHolders(dir: string): void {
  for (const { pid } of procStats()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === dir) {
          killQuietly(pid);
          break;
        }
      } catch {
        // Closed meanwhile.
      }
    }
  }
}

/** The run's store template of a stage1 image (stage1-store.ts), made by the first caller of the run. */
function stage1StoreTemplate(aci: string): Stage1StoreTemplate {
  ensureBuilt();
  let template = storeTemplates.get(aci);
  if (template === undefined) {
    // By the image file's inode: the stage1 snapshots of every test file are links to the one built.
    const st = statSync(aci);
    template = Stage1StoreTemplate.open(join(sharedStores, `${st.dev}-${st.ino}-${st.size}-${Math.floor(st.mtimeMs)}`), rktBin, aci);
    storeTemplates.set(aci, template);
  }
  return template;
}

/**
 * Makes the store templates of these stage1s now, for a file whose tests seed their data directories
 * (RktEnv.seedStage1): call it in a `beforeAll` with a long timeout. The first file of a run to seed from a
 * stage1 makes its template (`rkt fetch --full`, 4 s idle and over 10 s at load 9), which in a `beforeEach`
 * took the whole of vitest's 10 s hook timeout; after this each test's seed is a copy of links (about 0.1 s).
 */
export function prepareStage1Stores(...stage1s: readonly Stage1Under[]): void {
  for (const s of stage1s) stage1StoreTemplate(s.aci);
}

/**
 * The usual hooks of a file whose tests each run rkt against a data directory of their own, seeded with one
 * stage1 (its store template made once, in the file's `beforeAll`), and cleaned up after each: returns the
 * current test's RktEnv.
 */
export function useSeededEnv(stage1: Stage1Under): () => RktEnv {
  let env: RktEnv | undefined;
  beforeAll(() => {
    ensureBuilt();
    prepareStage1Stores(stage1);
  }, 600_000);
  beforeEach(() => {
    env = new RktEnv(stage1);
    env.seedStage1();
  });
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });
  return () => {
    if (env === undefined) throw new Error('useSeededEnv: no test is running');
    return env;
  };
}

export interface RktResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One test's data directory and the rkt commands run against it. */
export class RktEnv {
  readonly tmp: string;
  readonly dataDir: string;
  readonly children = new Set<ChildProcess>();

  /** The stage1 that `run` and `prepare` use (`--stage1-path`), unless the test gives a --stage1 flag itself. */
  readonly stage1: Stage1Under | undefined;
  #seededFrom: { aci: string; template: Stage1StoreTemplate } | undefined;

  constructor(stage1?: Stage1Under) {
    this.tmp = mkdtempSync(join(tmpdir(), 'rkt-pods-'));
    this.dataDir = join(this.tmp, 'data');
    this.stage1 = stage1;
  }

  /**
   * Starts the data directory with a stage1 image (by default this env's) fetched into its store
   * (stage1-store.ts), so that the first `rkt run` does not import and render it again: for tests that are
   * not about a first run into an empty store, nor look at its images.
   */
  seedStage1(aci = this.stage1?.aci): void {
    if (aci === undefined) throw new Error('seedStage1: no stage1 image given, and the RktEnv has none');
    const template = stage1StoreTemplate(aci);
    template.copyTo(this.dataDir);
    this.#seededFrom = { aci, template };
  }

  args(args: readonly string[]): string[] {
    const [cmd, ...rest] = args;
    const pods = (cmd === 'run' || cmd === 'prepare') && this.stage1 !== undefined && !rest.some((a) => a.startsWith('--stage1-'));
    return [`--dir=${this.dataDir}`, '--insecure-options=image', ...(pods ? [cmd, `--stage1-path=${this.stage1?.aci}`, ...rest] : args)];
  }

  /** `env`: variables added to this process's environment for the command. */
  run(args: readonly string[], o: { input?: string; timeoutMs?: number; env?: Readonly<Record<string, string>> } = {}): RktResult {
    const r = spawnSync(rktBin, this.args(args), {
      cwd: this.tmp,
      encoding: 'utf8',
      timeout: o.timeoutMs ?? 60_000,
      ...(o.input !== undefined ? { input: o.input } : {}),
      ...(o.env !== undefined ? { env: { ...process.env, ...o.env } } : {}),
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs rkt in the background (`env` as run's); the test's clean-up kills it if it is still there. */
  start(args: readonly string[], o: { env?: Readonly<Record<string, string>> } = {}): { child: ChildProcess; done: Promise<RktResult> } {
    const child = spawn(rktBin, this.args(args), { cwd: this.tmp, stdio: ['ignore', 'pipe', 'pipe'], ...(o.env !== undefined ? { env: { ...process.env, ...o.env } } : {}) });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<RktResult>((resolve) => {
      child.once('close', (status) => {
        this.children.delete(child);
        resolve({ status, stdout, stderr });
      });
    });
    return { child, done };
  }

  /** `rkt status --format=json` of a pod. */
  status(uuid: string): { state: string; pid?: number; exited?: boolean; apps: { name: string; exit_code?: number }[] } {
    const r = this.run(['status', '--format=json', uuid]);
    if (r.status !== 0) throw new Error(`rkt status failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as ReturnType<RktEnv['status']>;
  }

  async waitState(uuid: string, want: string, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = this.status(uuid).state;
      if (last === want) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`pod ${uuid} stayed ${last}, never ${want}`);
  }

  /** Waits until the pod is running and its stage1 has written the app's pid; returns the UUID and pid. */
  async waitRunning(timeoutMs = 20_000): Promise<{ uuid: string; pid: number }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      // rkt reports a pod's pid only from the `pid` or `ppid` file its stage1 writes in the pod's directory in
      // run/: until one is there, asking rkt (two Node starts every 50 ms) only takes CPU from the booting pod.
      if (!this.#pidFileInRun()) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const pods = JSON.parse(this.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
      const pod = pods.find((p) => p.state === 'running');
      if (pod !== undefined) {
        const { pid } = this.status(pod.name);
        if (pid !== undefined && pid > 1) return { uuid: pod.name, pid };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no pod came to run');
  }

  /** Whether a pod directory in run/ has the `pid` or `ppid` file a stage1 names the pod's processes by. */
  #pidFileInRun(): boolean {
    const run = join(this.dataDir, 'pods', 'run');
    let uuids: string[];
    try {
      uuids = readdirSync(run);
    } catch {
      return false; // no pod has run yet
    }
    return uuids.some((uuid) => existsSync(join(run, uuid, 'pid')) || existsSync(join(run, uuid, 'ppid')));
  }

  /** The mounts of this test's data directory, from the host's mount table. */
  mounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(this.tmp));
  }

  /** The UUIDs of this test's pods, in any state. */
  podUuids(): string[] {
    const root = join(this.dataDir, 'pods');
    return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s))) : [];
  }

  /** This test's pod directories, in any state: `{uuid, dir}`. */
  podDirs(): { uuid: string; dir: string }[] {
    const root = join(this.dataDir, 'pods');
    return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s)).map((uuid) => ({ uuid, dir: join(root, s, uuid) }))) : [];
  }

  /**
   * Tears down the CNI networks of every pod that still has a network namespace (its `netns`), as the pod's
   * own end or `rkt gc` would have: after a failed test nobody else does, and what is left (the namespace, its
   * veth, the lease, the masquerading chains) outlives the data directory. Each pod's lock is waited for first
   * (what holds it is killed when it does not let go): a teardown while a plugin's ADD still ran would be
   * overtaken by it. Then `rkt gc --grace-period=0s` (the stage1's own teardown), and teardownPodNetworks for
   * whatever gc did not collect. Returns the namespaces still there. Loads @rkt/cni and @rkt/controller only
   * for a pod that had networks.
   */
  private async teardownCniNetworks(): Promise<string[]> {
    const withNetns = this.podDirs().filter((p) => existsSync(join(p.dir, 'netns')));
    if (withNetns.length === 0) return [];
    const [{ teardownPodNetworks }, { waitUnlocked }] = await Promise.all([import('@rkt/cni'), import('@rkt/controller')]);
    for (const p of withNetns) {
      if ((await waitUnlocked(p.dir, 5_000)) !== 'timeout') continue;
      killHolders(p.dir);
      await waitUnlocked(p.dir, 5_000);
    }
    this.run(['gc', '--grace-period=0s']);
    for (const p of this.podDirs()) {
      if (!existsSync(join(p.dir, 'netns'))) continue;
      try {
        teardownPodNetworks({ podDir: p.dir, uuid: p.uuid, warn: () => {} });
      } catch {
        // Reported below, by what it left.
      }
    }
    return withNetns.map((p) => `/run/netns/rkt-${p.uuid}`).filter((n) => existsSync(n));
  }

  /**
   * Kills what is still running, unmounts and removes everything, even after a failure: fly's app (`pid`),
   * systemd's pod PID 1 (the child of nspawn, `ppid`), the pods' CNI plugin calls and networks (namespace,
   * veths, leases, chains: teardownCniNetworks), nspawn's propagation directory and the pods' cgroups.
   */
  async cleanup(): Promise<void> {
    // Whether anything of the test's that can start a CNI plugin (a rkt in the background, a pod's rkt or
    // nspawn) was still running: only then can a plugin start after the first kill below.
    let killedSome = this.children.size > 0;
    for (const c of this.children) c.kill('SIGKILL');
    const pids = spawnSync('sh', ['-c', `cat ${this.dataDir}/pods/run/*/pid 2>/dev/null; for p in $(cat ${this.dataDir}/pods/run/*/ppid 2>/dev/null); do cat /proc/$p/task/$p/children 2>/dev/null; echo $p; done`], {
      encoding: 'utf8',
    }).stdout;
    for (const word of pids.split(/\s+/)) {
      const pid = Number(word.trim());
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
          killedSome = true;
        } catch {
          // Already gone.
        }
      }
    }
    const uuids = this.podUuids();
    // A killed run leaves its CNI plugin running (under timeout(1), in a process group of its own): it would
    // finish its ADD after this clean-up and make its rules then. Killed twice, for one started meanwhile by
    // what was just killed or by a plugin found (a test without pods has no plugin calls to wait for; one
    // whose commands had all ended and that left no plugin has nothing that could start one: ~100 ms saved
    // per test).
    if (uuids.length > 0 && (killCniPlugins(uuids) > 0 || killedSome)) {
      await new Promise((r) => setTimeout(r, 100));
      killCniPlugins(uuids);
    }
    const netnsLeft = await this.teardownCniNetworks();
    await unmountTree(this.tmp, { lazy: true }).catch(() => {});
    rmSync(this.tmp, { recursive: true, force: true });
    for (const uuid of uuids) {
      rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
      for (const c of podCgroups(uuid).sort((a, b) => b.length - a.length)) removeCgroupTree(c);
      // The CNI plugin calls' of a run the test killed (rkt gc sweeps them once their plugin has exited).
      for (const p of callCgroupParents()) if (existsSync(p)) for (const c of readdirSync(p).filter((n) => n.startsWith(`${uuid}.`))) killCallCgroup(join(p, c));
    }
    if (netnsLeft.length > 0) throw new Error(`clean-up left network namespaces: ${netnsLeft.join(', ')}`);
    const seeded = this.#seededFrom;
    const changed = seeded?.template.check();
    if (seeded !== undefined && changed !== undefined) {
      seeded.template.remove();
      if (storeTemplates.get(seeded.aci) === seeded.template) storeTemplates.delete(seeded.aci);
      throw changed;
    }
  }
}
