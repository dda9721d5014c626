// `rkt api-service` as a client of rkt's gRPC API sees it: a real service process over a data directory with
// real fly pods and stored images, asked through a grpc-js client built from the same api.proto.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { basename, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { apiProtoPath, LOADER_OPTIONS } from '@rkt/api-service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../packages/controller/test/nats-server.js';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';

interface KV { Key: string; value: string }
interface Image { id: string; name: string; version: string; import_timestamp: string; manifest: Buffer; size: string; labels: KV[]; annotations: KV[]; base_format: { type: string; version: string } | null }
interface App { name: string; image: Image; state: string; exit_code: number; annotations: KV[] }
interface Pod { id: string; pid: number; state: string; apps: App[]; networks: unknown[]; manifest: Buffer; annotations: KV[]; cgroup: string; created_at: string; started_at: string; gc_marked_at: string }

type Call = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;
type Client = grpc.Client & Record<string, Call>;

let env: RktEnv;
let service: { child: ChildProcess; done: Promise<RktResult> } | undefined;
let client: Client;
let busyboxId: string;
let otherId: string;
let exitedUuid: string;
let runningUuid: string;
let runningPid: number;

function ask<T>(method: string, req: object = {}, c = client): Promise<T> {
  return new Promise((resolve, reject) => c[method]!(req, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** The gRPC status code a call fails with (or 'ok'). */
async function codeOf(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

/** The port the service printed under --debug, once it prints "API service running". */
async function portOf(child: ChildProcess): Promise<number> {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api-service did not start: ${text}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      const port = /\(port ([0-9]+)\)/.exec(text);
      if (port !== null && text.includes('api-service: API service running\n')) {
        clearTimeout(timer);
        resolve(Number(port[1]));
      }
    });
    child.once('close', () => reject(new Error(`api-service ended: ${text}`)));
  });
}

/** `rkt api-service` on a free port of 127.0.0.1 over the env's data directory, and a client of it. */
async function startService(e: RktEnv, globals: readonly string[] = []): Promise<{ service: { child: ChildProcess; done: Promise<RktResult> }; client: Client }> {
  const started = e.start(['--debug', ...globals, 'api-service', '--listen=127.0.0.1:0']);
  return { service: started, client: clientOf(await portOf(started.child)) };
}

/** A client of the service on this port of 127.0.0.1, built from the same api.proto. */
function clientOf(port: number): Client {
  const def = protoLoader.loadSync(apiProtoPath(), LOADER_OPTIONS);
  const PublicAPI = (grpc.loadPackageDefinition(def).v1alpha as grpc.GrpcObject).PublicAPI as grpc.ServiceClientConstructor;
  return new PublicAPI(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as Client;
}

function imageId(name: string): string {
  const r = env.run(['image', 'list', '--full', '--no-legend', '--fields=id,name']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[1]?.replace(/:[^:/]*$/, '') === name);
  if (line === undefined) throw new Error(`no image ${name}: ${r.stdout}`);
  return line.split(/\s+/)[0]!;
}

beforeAll(async () => {
  ensureBuilt();
  env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
  env.seedStage1();
  const aci = await buildBusyboxAci(env.tmp);
  const other = await buildBusyboxAci(env.tmp, 'example.org/tools/other');
  const ran = env.run(['run', '--uuid-file-save=' + join(env.tmp, 'exited.uuid'), aci, '--exec=/bin/sh', '--', '-c', 'exit 7']);
  expect(ran.status, ran.stderr).toBe(7);
  exitedUuid = readFileSync(join(env.tmp, 'exited.uuid'), 'utf8').trim();
  expect(env.run(['fetch', other]).status).toBe(0);
  busyboxId = imageId('example.com/busybox');
  otherId = imageId('example.org/tools/other');
  env.start(['run', aci, '--exec=/bin/sleep', '--', '300']);
  ({ uuid: runningUuid, pid: runningPid } = await env.waitRunning());

  ({ service, client } = await startService(env));
}, 180_000);

afterAll(async () => {
  client?.close();
  if (env === undefined) return;
  if (runningUuid !== undefined) env.run(['stop', '--force', runningUuid]);
  await env.cleanup();
});

describe('rkt api-service', () => {
  it("GetInfo: rkt's API version, the appc version, the global flags it was started with", async () => {
    const { info } = await ask<{ info: { api_version: string; appc_version: string; rkt_version: string; global_flags: Record<string, unknown> } }>('GetInfo');
    expect(info.api_version).toBe('1.0.0-alpha');
    expect(info.appc_version).toBe('0.8.11');
    expect(info.rkt_version).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+/);
    expect(info.global_flags).toMatchObject({ dir: env.dataDir, insecure_flags: 'image', local_config_dir: '/etc/rkt', system_config_dir: '/usr/lib/rkt', trust_keys_from_https: false });
  });

  it('ListPods: both pods with their states; with detail, the apps with their image, state and exit code, and the manifest', async () => {
    const { pods } = await ask<{ pods: Pod[] }>('ListPods', { detail: true });
    expect(pods.map((p) => p.id).sort()).toEqual([exitedUuid, runningUuid].sort());
    const exited = pods.find((p) => p.id === exitedUuid)!;
    expect(exited.state).toBe('POD_STATE_EXITED');
    expect(exited.apps).toHaveLength(1);
    expect(exited.apps[0]).toMatchObject({ name: 'busybox', state: 'APP_STATE_EXITED', exit_code: 7 });
    expect(exited.apps[0]!.image).toMatchObject({ id: busyboxId, name: 'example.com/busybox', version: '1.0', base_format: { type: 'IMAGE_TYPE_APPC', version: '0.8.11' } });
    // A pod `rkt run` made carries no pod annotations (the filters' unit tests cover those).
    expect(exited.annotations).toEqual([]);
    // The pod manifest byte for byte as the pod has it.
    expect(exited.manifest.equals(readFileSync(join(env.dataDir, 'pods', 'run', exitedUuid, 'pod')))).toBe(true);
    expect(BigInt(exited.created_at)).toBeGreaterThan(0n);
    expect(BigInt(exited.started_at)).toBeGreaterThanOrEqual(BigInt(exited.created_at) - 1_000_000_000n);
    expect(exited.gc_marked_at).toBe('0');

    const running = pods.find((p) => p.id === runningUuid)!;
    expect(running).toMatchObject({ state: 'POD_STATE_RUNNING', pid: runningPid, networks: [] });
    expect(running.apps[0]).toMatchObject({ name: 'busybox', state: 'APP_STATE_RUNNING', exit_code: 0 });
    // A fly pod has no cgroup of its own: rkt reported its process's systemd cgroup (without /init.scope), the
    // one `rkt run` was started in; '/' here, where the tests run in the root of name=systemd.
    const systemdLine = readFileSync(`/proc/${runningPid}/cgroup`, 'utf8').split('\n').find((l) => /^[0-9]+:name=systemd:/.test(l));
    const expected = systemdLine === undefined ? undefined : systemdLine.replace(/^[0-9]+:name=systemd:/, '').replace(/\/init\.scope$/, '') || '/';
    if (expected !== undefined) expect(running.cgroup).toBe(expected);
    else expect(running.cgroup).toBe(readFileSync(`/proc/${runningPid}/cgroup`, 'utf8').match(/^0::(.*)$/m)?.[1]);
    // By UUID, as rkt's WalkPods.
    expect(pods.map((p) => p.id)).toEqual(pods.map((p) => p.id).sort());
  });

  it("ListPods without detail leaves out the manifest only (rkt 1.30): apps keep their image's name and version, state and exit code", async () => {
    const { pods } = await ask<{ pods: Pod[] }>('ListPods', {});
    const exited = pods.find((p) => p.id === exitedUuid)!;
    expect(exited.manifest.length).toBe(0);
    expect(exited.apps[0]).toMatchObject({ name: 'busybox', state: 'APP_STATE_EXITED', exit_code: 7, image: { id: busyboxId, name: 'example.com/busybox', version: '1.0' } });
  });

  it('ListPods and InspectPod see the pods rkt did: an aborted prepare (matched on its state), not an embryo or a pod of garbage/', async () => {
    // Directories as an interrupted prepare, a gc'd prepared pod and a new pod leave them, their UUIDs sharing
    // the exited pod's first 8 digits so that its 8-digit prefix stays unique only among what rkt searched.
    const prefix = exitedUuid.slice(0, 8);
    const made = {
      aborted: join(env.dataDir, 'pods', 'prepare', `${prefix}-0000-4000-8000-00000000000a`),
      embryo: join(env.dataDir, 'pods', 'embryo', `${prefix}-0000-4000-8000-00000000000b`),
      garbage: join(env.dataDir, 'pods', 'garbage', `${prefix}-0000-4000-8000-00000000000c`),
    };
    try {
      for (const dir of Object.values(made)) mkdirSync(dir, { recursive: true });
      const { pods } = await ask<{ pods: Pod[] }>('ListPods', {});
      expect(pods.map((p) => p.id).sort()).toEqual([exitedUuid, runningUuid, basename(made.aborted)].sort());
      const aborted = pods.find((p) => p.id === basename(made.aborted))!;
      expect(aborted).toMatchObject({ state: 'POD_STATE_ABORTED_PREPARE', pid: -1, apps: [], created_at: '0' });
      const byState = (await ask<{ pods: Pod[] }>('ListPods', { filters: [{ states: ['POD_STATE_ABORTED_PREPARE'] }] })).pods;
      expect(byState.map((p) => p.id)).toEqual([basename(made.aborted)]);
      expect(await codeOf(ask('InspectPod', { id: basename(made.embryo) }))).toBe(grpc.status.NOT_FOUND);
      expect(await codeOf(ask('InspectPod', { id: basename(made.garbage) }))).toBe(grpc.status.NOT_FOUND);
      // The prefix now names two pods rkt would search: ambiguous.
      const err = (await ask('InspectPod', { id: prefix }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toBe('unable to resolve UUID: ambiguous uuid, 2 matches');
    } finally {
      for (const dir of Object.values(made)) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ListPods filters: states, ids, app names, image IDs, annotations, networks; ANDed within one, ORed across', async () => {
    const ids = async (filters: object[]) => (await ask<{ pods: Pod[] }>('ListPods', { filters })).pods.map((p) => p.id).sort();
    expect(await ids([{ states: ['POD_STATE_RUNNING'] }])).toEqual([runningUuid]);
    expect(await ids([{ states: ['POD_STATE_EXITED'] }])).toEqual([exitedUuid]);
    expect(await ids([{ ids: [exitedUuid] }])).toEqual([exitedUuid]);
    expect(await ids([{ app_names: ['busybox'] }])).toEqual([exitedUuid, runningUuid].sort());
    expect(await ids([{ app_names: ['nope'] }])).toEqual([]);
    expect(await ids([{ image_ids: [busyboxId] }])).toEqual([exitedUuid, runningUuid].sort());
    expect(await ids([{ image_ids: [otherId] }])).toEqual([]);
    expect(await ids([{ annotations: [{ Key: 'team', value: 'infra' }] }])).toEqual([]);
    expect(await ids([{ ids: [exitedUuid], states: ['POD_STATE_RUNNING'] }])).toEqual([]);
    expect(await ids([{ ids: [exitedUuid] }, { states: ['POD_STATE_RUNNING'] }])).toEqual([exitedUuid, runningUuid].sort());
    expect(await ids([{ network_names: ['default'] }])).toEqual([]);
  });

  it("InspectPod: the pod in detail, by its UUID or a prefix of it (upper case too), as rkt's; no match is NOT_FOUND, an empty ID INVALID_ARGUMENT", async () => {
    const { pod } = await ask<{ pod: Pod }>('InspectPod', { id: exitedUuid });
    expect(pod).toMatchObject({ id: exitedUuid, state: 'POD_STATE_EXITED' });
    expect(pod.apps[0]).toMatchObject({ state: 'APP_STATE_EXITED', exit_code: 7 });
    expect(pod.manifest.equals(readFileSync(join(env.dataDir, 'pods', 'run', exitedUuid, 'pod')))).toBe(true);
    expect((await ask<{ pod: Pod }>('InspectPod', { id: exitedUuid.slice(0, 8) })).pod.id).toBe(exitedUuid);
    expect((await ask<{ pod: Pod }>('InspectPod', { id: exitedUuid.slice(0, 8).toUpperCase() })).pod.id).toBe(exitedUuid);
    const err = (await ask('InspectPod', { id: '00000000-0000-0000-0000-000000000000' }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('unable to resolve UUID: no matches found for "00000000-0000-0000-0000-000000000000"');
    expect(await codeOf(ask('InspectPod', { id: 'not a uuid' }))).toBe(grpc.status.NOT_FOUND);
    const empty = (await ask('InspectPod', { id: '' }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect([empty.code, empty.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'unable to resolve UUID: UUID cannot be empty']);
  });

  it('ListImages: the stored images (the stage1 too), their manifests as in the ACI with detail; filters', async () => {
    const { images } = await ask<{ images: Image[] }>('ListImages', { detail: true });
    const names = images.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['example.com/busybox', 'example.org/tools/other']));
    // Every image `rkt image list` shows, and no other.
    const listed = env.run(['image', 'list', '--full', '--no-legend', '--fields=id']).stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim());
    expect(images.map((i) => i.id).sort()).toEqual(listed.sort());
    const busybox = images.find((i) => i.id === busyboxId)!;
    expect(busybox).toMatchObject({ name: 'example.com/busybox', version: '1.0', base_format: { type: 'IMAGE_TYPE_APPC' } });
    expect(busybox.labels).toEqual([{ Key: 'version', value: '1.0' }, { Key: 'os', value: 'linux' }, { Key: 'arch', value: 'amd64' }]);
    expect(busybox.manifest.equals(readFileSync(join(env.tmp, 'busybox-layout', 'manifest')))).toBe(true);
    expect(Number(busybox.size)).toBeGreaterThan(500_000);
    expect(Math.abs(Number(busybox.import_timestamp) - Date.now() / 1000)).toBeLessThan(600);

    const plain = await ask<{ images: Image[] }>('ListImages', {});
    expect(plain.images.every((i) => i.manifest.length === 0)).toBe(true);
    const found = async (filters: object[]) => (await ask<{ images: Image[] }>('ListImages', { filters })).images.map((i) => i.name).sort();
    expect(await found([{ full_names: ['example.com/busybox'] }])).toEqual(['example.com/busybox']);
    expect(await found([{ prefixes: ['example.org/'] }])).toEqual(['example.org/tools/other']);
    expect(await found([{ base_names: ['other'] }])).toEqual(['example.org/tools/other']);
    expect(await found([{ base_names: ['oth'] }])).toEqual([]);
    expect(await found([{ keywords: ['busy'] }, { ids: [otherId] }])).toEqual(['example.com/busybox', 'example.org/tools/other']);
    expect(await found([{ labels: [{ Key: 'version', value: '1.0' }], prefixes: ['example.'] }])).toEqual(['example.com/busybox', 'example.org/tools/other']);
    expect(await found([{ labels: [{ Key: 'version', value: '2.0' }] }])).toEqual([]);
    expect(await found([{ imported_after: String(Math.floor(Date.now() / 1000) + 3600) }])).toEqual([]);
  });

  it("InspectImage: the image with its manifest; an unknown ID, a prefix or a name NOT_FOUND in rkt's words (rkt took whole IDs only)", async () => {
    const { image } = await ask<{ image: Image }>('InspectImage', { id: otherId });
    expect(image).toMatchObject({ id: otherId, name: 'example.org/tools/other' });
    expect(image.manifest.equals(readFileSync(join(env.tmp, 'example-org-tools-other-layout', 'manifest')))).toBe(true);
    expect(await codeOf(ask('InspectImage', { id: `sha512-${'0'.repeat(128)}` }))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(ask('InspectImage', { id: 'example.com/busybox' }))).toBe(grpc.status.NOT_FOUND);
    const err = (await ask('InspectImage', { id: otherId.slice(0, 19) }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect([err.code, err.details]).toEqual([grpc.status.NOT_FOUND, `ACI info not found with blob key "${otherId.slice(0, 19)}"`]);
  });

  it("ListenEvents without an event bus in events.d answers UNIMPLEMENTED, and GetLogs of a fly pod, in rkt's words", async () => {
    for (const [method, req, message] of [
      ['ListenEvents', {}, undefined],
      ['GetLogs', { pod_id: exitedUuid }, `logging unsupported for pod "${exitedUuid}"`],
    ] as const) {
      const err = await new Promise<grpc.ServiceError | undefined>((resolve) => {
        // A deadline, so that a stream left open fails the test in seconds (DEADLINE_EXCEEDED), not by its timeout.
        const stream = (client[method] as unknown as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>)(req, { deadline: Date.now() + 10_000 });
        stream.on('data', () => undefined);
        stream.on('error', (e: grpc.ServiceError) => resolve(e));
        stream.on('end', () => resolve(undefined));
      });
      expect(err?.code, method).toBe(grpc.status.UNIMPLEMENTED);
      if (message !== undefined) expect(err?.details).toBe(message);
    }
  });

  it('stops on SIGTERM with status 0, saying so, and leaves no process', async () => {
    const { child, done } = service!;
    const pid = child.pid!;
    child.kill('SIGTERM');
    const r = await done;
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('api-service: API service running\n');
    expect(r.stderr).toMatch(/api-service: API service exiting\.\.\.\n$/);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(await codeOf(ask('GetInfo'))).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('rkt api-service under systemd socket activation', () => {
  it('serves on the listening socket passed as fd 3 (LISTEN_FDS, LISTEN_PID), not on --listen', async () => {
    const e = new RktEnv();
    const listener = createServer();
    let child: ChildProcess | undefined;
    let c: Client | undefined;
    try {
      await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
      const port = (listener.address() as { port: number }).port;
      const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
      // As systemd starts it: the socket as fd 3, LISTEN_PID the pid that runs rkt (the shell's, which execs it).
      child = spawn('sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', rktBin, `--dir=${e.dataDir}`, '--debug', 'api-service', '--listen=127.0.0.1:1'], {
        stdio: ['ignore', 'pipe', 'pipe', fd],
      });
      const exited = new Promise<number | null>((r) => child!.once('close', r));
      expect(await portOf(child)).toBe(port);
      listener.close();
      c = clientOf(port);
      const { info } = await ask<{ info: { api_version: string; global_flags: { dir: string } } }>('GetInfo', {}, c);
      expect(info).toMatchObject({ api_version: '1.0.0-alpha', global_flags: { dir: e.dataDir } });
      expect(await ask<{ pods: Pod[] }>('ListPods', {}, c)).toEqual({ pods: [] });
      c.close();
      c = undefined;
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      c?.close();
      listener.close();
      if (child?.exitCode === null) child.kill('SIGKILL');
      await e.cleanup();
    }
  });
});

describe('rkt api-service refuses', () => {
  let busy: NetServer | undefined;
  afterAll(() => busy?.close());

  it('a bad --listen, or a port in use, in one line and 254, writing nothing', async () => {
    const fresh = new RktEnv();
    try {
      const bad = fresh.run(['api-service', '--listen=localhost']);
      expect(bad.status).toBe(254);
      expect(bad.stderr).toBe('api-service: --listen="localhost": must be HOST:PORT, [IPV6]:PORT or :PORT\n');
      busy = createServer();
      await new Promise<void>((r) => busy!.listen(0, '127.0.0.1', r));
      const port = (busy.address() as { port: number }).port;
      const inUse = fresh.run(['api-service', `--listen=127.0.0.1:${port}`]);
      expect(inUse.status).toBe(254);
      expect(inUse.stderr).toBe(`api-service: cannot listen on 127.0.0.1:${port}: address already in use\n`);
      expect(inUse.stdout).toBe('');
      // Nothing of its own on disk: the data directory was not even made.
      expect(existsSync(fresh.dataDir) ? readdirSync(fresh.dataDir) : []).toEqual([]);
    } finally {
      await fresh.cleanup();
    }
  });
});

/** What a test over a systemd pod gets from withSystemdService. */
interface SystemdService {
  /** A data directory seeded with the systemd stage1. */
  readonly env: RktEnv;
  /** The busybox image, in env.tmp. */
  readonly aci: string;
  /** Starts `rkt api-service` over env's data directory (once) and returns a client of it. */
  serve(): Promise<Client>;
}

/**
 * Runs `fn` over a systemd-stage1 data directory and tears everything down even when it fails: the client, the
 * service, every pod still running (`rkt stop --force`), then the env. When `fn` passed, the service it started
 * must also end on SIGTERM with status 0, as rkt's.
 */
async function withSystemdService(fn: (s: SystemdService) => Promise<void>): Promise<void> {
  const env = new RktEnv(STAGE1S.find((s) => s.name === 'systemd'));
  let started: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    env.seedStage1();
    const aci = await buildBusyboxAci(env.tmp);
    await fn({
      env,
      aci,
      serve: async () => {
        if (started !== undefined) throw new Error('withSystemdService: serve() called twice');
        started = await startService(env);
        return started.client;
      },
    });
    if (started !== undefined) {
      started.client.close();
      started.service.child.kill('SIGTERM');
      const r = await started.service.done;
      expect(r.status, r.stderr).toBe(0);
    }
  } finally {
    started?.client.close();
    if (started?.service.child.exitCode === null) started.service.child.kill('SIGKILL');
    const listed = env.run(['list', '--format=json']);
    const pods = listed.status === 0 ? (JSON.parse(listed.stdout) as { name: string; state: string }[]) : [];
    for (const p of pods.filter((p) => p.state === 'running')) env.run(['stop', '--force', p.name]);
    await env.cleanup();
  }
}

/** An app's log line without the time GetLogs puts first (Go's time.Time, as rkt's journal reader gave it). */
const LOG_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})? \+0000 UTC /;
const untimed = (l: string): string => l.replace(LOG_TIME, '');

/**
 * A GetLogs call without follow: the lines of each response. With a deadline, so that a stream left open fails the
 * test in seconds (DEADLINE_EXCEEDED), not by its timeout.
 */
function getLogs(c: Client, req: object): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const got: string[][] = [];
    const stream = (c.GetLogs as unknown as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<{ lines: string[] }>)(req, { deadline: Date.now() + 10_000 });
    stream.on('data', (r: { lines: string[] }) => got.push(r.lines));
    stream.on('error', reject);
    stream.on('end', () => resolve(got));
  });
}

describe('rkt api-service over a systemd pod', () => {
  it("a mutable pod (rkt app sandbox): its pod annotation, and an app added after it started, from its manifest", () =>
    withSystemdService(async ({ env: e, aci, serve }) => {
      const app = { RKT_EXPERIMENT_APP: 'true' };
      e.start(['app', 'sandbox', `--stage1-path=${e.stage1!.aci}`], { env: app });
      const { uuid } = await e.waitRunning();
      const added = e.run(['app', 'add', uuid, aci, '--name=worker', '--exec=/bin/sleep', '--', '300'], { env: app });
      expect(added.status, added.stderr).toBe(0);
      const c = await serve();
      const { pods } = await ask<{ pods: Pod[] }>('ListPods', { detail: true, filters: [{ annotations: [{ Key: 'coreos.com/rkt/stage1/mutable', value: 'true' }] }] }, c);
      expect(pods.map((p) => p.id)).toEqual([uuid]);
      expect(pods[0]!.annotations).toEqual([{ Key: 'coreos.com/rkt/stage1/mutable', value: 'true' }]);
      expect(pods[0]!.apps.map((a) => a.name)).toEqual(['worker']);
      expect(pods[0]!.apps[0]!.image).toMatchObject({ name: 'example.com/busybox', version: '1.0' });
      expect(await ask<{ pods: Pod[] }>('ListPods', { filters: [{ app_names: ['worker'] }] }, c)).toMatchObject({ pods: [{ id: uuid }] });
      expect(e.run(['stop', uuid]).status).toBe(0);
    }));

  it("shows the running pod's cgroup, which the cgroup and pod sub-cgroup filters find", () =>
    withSystemdService(async ({ env: e, aci, serve }) => {
      e.start(['run', aci, '--exec=/bin/sleep', '--', '300']);
      const { uuid, pid } = await e.waitRunning();
      const c = await serve();
      const { pod } = await ask<{ pod: Pod }>('InspectPod', { id: uuid }, c);
      // rkt's Pod.pid is the stage1's process: the ppid file's (systemd-nspawn), whose one child is the pod's
      // systemd (`rkt status`'s pid).
      const ppid = Number(readFileSync(join(e.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8').trim());
      expect(readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim()).toBe(String(pid));
      expect(pod).toMatchObject({ id: uuid, state: 'POD_STATE_RUNNING', pid: ppid });
      expect(pod.apps[0]).toMatchObject({ name: 'busybox', state: 'APP_STATE_RUNNING' });
      // The directory systemd-nspawn made for the pod, in the cgroup the pod's process is in.
      expect(pod.cgroup).toMatch(new RegExp(`/rkt-${uuid}$`));
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(pod.cgroup);
      const ids = async (filters: object[]) => (await ask<{ pods: Pod[] }>('ListPods', { filters }, c)).pods.map((p) => p.id);
      expect(await ids([{ cgroups: [pod.cgroup] }])).toEqual([uuid]);
      expect(await ids([{ cgroups: [`${pod.cgroup}/system.slice`] }])).toEqual([]);
      expect(await ids([{ pod_sub_cgroups: [`${pod.cgroup}/system.slice/busybox.service`] }])).toEqual([uuid]);
      expect(await ids([{ pod_sub_cgroups: ['/elsewhere'] }])).toEqual([]);
      expect(e.run(['stop', '--force', uuid]).status).toBe(0);
      // Exited: the same pid still (rkt read the file; rkt-ts's own reading, the child's, is gone), the app exited.
      let after: Pod | undefined;
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        after = (await ask<{ pod: Pod }>('InspectPod', { id: uuid }, c)).pod;
        if (after.state === 'POD_STATE_EXITED') break;
      }
      expect(after).toMatchObject({ state: 'POD_STATE_EXITED', pid: ppid, cgroup: '' });
      expect(after!.apps[0]!.state).toBe('APP_STATE_EXITED');
    }));
});

describe('rkt api-service GetLogs, over a systemd pod', () => {
  it("serves the apps' output the stage1 logged: every app's or one's, the last lines, since a time, and followed as it comes", () =>
    withSystemdService(async ({ env: e, aci, serve }) => {
      const other = await buildBusyboxAci(e.tmp, 'example.org/tools/other');
      const pod = e.start([
        'run', aci, '--exec=/bin/sh', '--', '-c', 'echo hello; echo oops >&2; i=0; while [ $i -lt 600 ]; do sleep 0.1; echo tick $i; i=$((i+1)); done; sleep 300',
        '---', other, '--exec=/bin/sh', '--', '-c', 'echo from-other; sleep 300',
      ]);
      const { uuid } = await e.waitRunning();
      const c = await serve();
      const logs = (req: object) => getLogs(c, { pod_id: uuid, ...req });
      let all: string[] = [];
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && !(all.includes('hello') && all.includes('from-other') && all.includes('tick 2')); ) {
        const r = await logs({});
        expect(r).toHaveLength(1); // Without follow: one response, as rkt's.
        all = r[0]!.map(untimed);
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(all).toEqual(expect.arrayContaining(['hello', 'oops', 'from-other', 'tick 0', 'tick 1', 'tick 2']));
      // Each line "<Go's time.Time> <text>", as rkt's journal reader gave them.
      for (const l of (await logs({}))[0]!) expect(l).toMatch(LOG_TIME);
      const otherLines = (await logs({ app_name: 'other' }))[0]!.map(untimed);
      expect(otherLines).toEqual(['from-other']);
      expect((await logs({ app_name: 'nope' }))[0] ?? []).toEqual([]);
      const busybox = (await logs({ app_name: 'busybox' }))[0]!.map(untimed);
      expect(busybox.slice(0, 3)).toEqual(expect.arrayContaining(['hello', 'oops']));
      expect(busybox).not.toContain('from-other');
      const last = (await logs({ app_name: 'busybox', lines: 2 }))[0]!.map(untimed);
      expect(last).toHaveLength(2);
      expect(last[1]).toMatch(/^tick [0-9]+$/);
      expect((await logs({ since_time: String(Math.floor(Date.now() / 1000) + 3600) }))[0] ?? []).toEqual([]);
      // Since a second from now: ticks only, from then on, `lines` ignored as go-systemd's reader did.
      const since = Math.floor(Date.now() / 1000) + 1;
      await new Promise((res) => setTimeout(res, since * 1000 - Date.now() + 500));
      const fromSince = (await logs({ since_time: String(since), lines: 1 }))[0]!.map(untimed);
      expect(fromSince.length).toBeGreaterThan(1);
      expect(fromSince.every((l) => /^tick [0-9]+$/.test(l))).toBe(true);

      // Follow: the last line, then each new one in a response of its own, until the client cancels.
      const followed = await new Promise<string[][]>((resolve, reject) => {
        const got: string[][] = [];
        const stream = (c.GetLogs as unknown as (r: object) => grpc.ClientReadableStream<{ lines: string[] }>)({ pod_id: uuid, app_name: 'busybox', lines: 1, follow: true });
        stream.on('data', (r: { lines: string[] }) => {
          got.push(r.lines.map(untimed));
          if (got.length === 4) stream.cancel();
        });
        stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve(got) : reject(err)));
        stream.on('end', () => resolve(got));
      });
      expect(followed.every((r) => r.length === 1)).toBe(true);
      const ticks = followed.map((r) => Number(/^tick ([0-9]+)$/.exec(r[0]!)![1]));
      expect(ticks.slice(1)).toEqual([ticks[0]! + 1, ticks[0]! + 2, ticks[0]! + 3]);

      // What was logged is what rkt run relayed; the log stays, read after the pod has exited.
      expect(readFileSync(join(e.dataDir, 'pods', 'run', uuid, 'stage1-log', 'apps.log'), 'utf8')).toContain(' stdout other from-other\n');
      expect(e.run(['stop', '--force', uuid]).status).toBe(0);
      const ran = await pod.done;
      expect(ran.stdout).toContain('hello\n');
      expect(ran.stdout).toContain('from-other\n');
      const after = (await logs({}))[0]!.map(untimed);
      expect(after).toEqual(expect.arrayContaining(['hello', 'oops', 'from-other']));
    }), 120_000);

  it("serves the lines of apps added to a sandbox (rkt app add), which also reach the sandbox's output, run after run and after an app rm and a new add", () =>
    withSystemdService(async ({ env: e, aci, serve }) => {
      const app = { RKT_EXPERIMENT_APP: 'true' };
      const sandbox = e.start(['app', 'sandbox', `--stage1-path=${e.stage1!.aci}`], { env: app });
      const { uuid } = await e.waitRunning();
      const c = await serve();
      const printerLines = async () => (await getLogs(c, { pod_id: uuid, app_name: 'printer' })).flat().map(untimed);
      const ok = (r: RktResult) => expect(r.status, r.stderr).toBe(0);
      /** Starts the added app and waits until its run has exited 0 (rkt status shows each app's exit). */
      const runOnce = async () => {
        ok(e.run(['app', 'start', uuid, '--app=printer'], { env: app }));
        for (const end = Date.now() + 20_000; e.status(uuid).apps.find((a) => a.name === 'printer')?.exit_code !== 0; await new Promise((r) => setTimeout(r, 100))) {
          if (Date.now() > end) throw new Error(`the added app's run never exited 0: ${JSON.stringify(e.status(uuid))}`);
        }
      };
      /** The app's lines in GetLogs, once there are `n` of them (the relay may log a run's last line after its exit is recorded). */
      const waitLines = async (n: number) => {
        let got: string[] = [];
        for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
          got = await printerLines();
          if (got.length >= n) break;
        }
        return got;
      };

      ok(e.run(['app', 'add', uuid, aci, '--name=printer', '--exec=/bin/sh', '--', '-c', 'echo "first $1"; echo first-oops >&2', 'sh', 'run'], { env: app }));
      await runOnce();
      expect((await waitLines(2)).sort()).toEqual(['first run', 'first-oops']);
      // Started again: the new run's lines after the first's.
      await runOnce();
      const twice = await waitLines(4);
      expect(twice.slice(2).sort()).toEqual(['first run', 'first-oops']);
      // Removed, and a new app of the name added: its lines too, under the same name.
      ok(e.run(['app', 'rm', uuid, '--app=printer'], { env: app }));
      ok(e.run(['app', 'add', uuid, aci, '--name=printer', '--exec=/bin/sh', '--', '-c', 'echo second; echo second-oops >&2'], { env: app }));
      await runOnce();
      const all = await waitLines(6);
      expect([...all].sort()).toEqual(['first run', 'first run', 'first-oops', 'first-oops', 'second', 'second-oops']);
      // The first app's four lines come before the new app's two.
      expect(all.slice(4).sort()).toEqual(['second', 'second-oops']);

      // The same lines on the sandbox's own stdout and stderr, byte for byte as rkt run relays its apps' (the pod's
      // console, a pty, would have made each line end in \r\n).
      ok(e.run(['stop', uuid]));
      const ran = await sandbox.done;
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.stdout).toBe('first run\nfirst run\nsecond\n');
      expect(ran.stderr).toContain('first-oops\nfirst-oops\nsecond-oops\n');
    }), 120_000);
});

describe('rkt api-service ListenEvents, with a NATS server in events.d', () => {
  let nats: TestNatsServer | undefined;
  let evEnv: RktEnv | undefined;
  let evClient: Client | undefined;
  afterAll(async () => {
    evClient?.close();
    await evEnv?.cleanup();
    await nats?.stop();
  });

  interface Event { type: string; id: string; from: string; time: string; data: KV[] }
  /** A ListenEvents stream: its responses' events as they come, and whether it has ended. */
  function listen(filter: object) {
    const stream = (evClient![`ListenEvents`] as unknown as (r: object) => grpc.ClientReadableStream<{ events: Event[] }>)({ filter });
    const state = { live: false, ended: false, error: undefined as grpc.ServiceError | undefined, events: [] as Event[] };
    stream.on('data', (r: { events: Event[] }) => {
      // The first response, without events, says the subscription is on the server.
      if (r.events.length === 0) state.live = true;
      state.events.push(...r.events);
    });
    stream.on('error', (e: grpc.ServiceError) => (state.error = e));
    stream.on('end', () => (state.ended = true));
    return { stream, state };
  }
  async function until(ok: () => boolean, why: () => string): Promise<void> {
    for (const end = Date.now() + 20_000; !ok(); await new Promise((r) => setTimeout(r, 25))) if (Date.now() > end) throw new Error(why());
  }

  it("relays a pod's lifecycle events as rkt's Event, filtered; a stream with until_time ends then", async () => {
    nats = await startNatsServer();
    evEnv = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    evEnv.seedStage1();
    const aci = await buildBusyboxAci(evEnv.tmp);
    const etc = join(evEnv.tmp, 'etc');
    mkdirSync(join(etc, 'events.d'), { recursive: true });
    writeFileSync(join(etc, 'events.d', 'nats.json'), JSON.stringify({ rktKind: 'events', rktVersion: 'v1', nats: { servers: [nats.url] } }));
    const started = await startService(evEnv, [`--local-config=${etc}`]);
    evClient = started.client;

    const all = listen({ types: ['EVENT_TYPE_POD_PREPARED', 'EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_APP_EXITED', 'EVENT_TYPE_POD_EXITED'] });
    const apps = listen({ names: ['busybox'] });
    const elsewhere = listen({ ids: ['00000000-0000-0000-0000-000000000000'] });
    const brief = listen({ until_time: String(Math.floor(Date.now() / 1000) + 2) });
    await until(() => all.state.live && apps.state.live && elsewhere.state.live && brief.state.live, () => `streams never went live: ${all.state.error?.message}`);

    const before = Math.floor(Date.now() / 1000);
    const uuidFile = join(evEnv.tmp, 'uuid');
    const ran = evEnv.run(['run', `--local-config=${etc}`, `--uuid-file-save=${uuidFile}`, aci, '--exec=/bin/sh', '--', '-c', 'exit 5']);
    expect(ran.status, ran.stderr).toBe(5);
    const uuid = readFileSync(uuidFile, 'utf8').trim();
    await until(() => all.state.events.some((e) => e.type === 'EVENT_TYPE_POD_EXITED'), () => `no pod exited event: ${JSON.stringify(all.state.events)}`);
    expect(all.state.events.map((e) => e.type)).toEqual(['EVENT_TYPE_POD_PREPARED', 'EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_APP_EXITED', 'EVENT_TYPE_POD_EXITED']);
    expect(all.state.events.every((e) => e.id === uuid && Number(e.time) >= before && Number(e.time) <= Date.now() / 1000)).toBe(true);
    expect(all.state.events[2]).toMatchObject({ from: 'busybox', data: [{ Key: 'exitStatus', value: '5' }] });
    expect(all.state.events[3]).toMatchObject({ from: uuid, data: [{ Key: 'exitStatus', value: '5' }] });
    // The app's events only (started and exited), by the app's name.
    await until(() => apps.state.events.length >= 2, () => `app events: ${JSON.stringify(apps.state.events)}`);
    expect(apps.state.events.map((e) => e.type)).toEqual(['EVENT_TYPE_APP_STARTED', 'EVENT_TYPE_APP_EXITED']);
    expect(elsewhere.state.events).toEqual([]);
    await until(() => brief.state.ended, () => 'the stream with until_time did not end');
    expect(all.state.ended).toBe(false);

    // The service's end ends the streams still open; it stops with 0.
    started.service.child.kill('SIGTERM');
    expect((await started.service.done).status).toBe(0);
    await until(() => all.state.ended || all.state.error !== undefined, () => 'the stream outlived the service');
  });
});
