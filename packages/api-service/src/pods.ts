import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readNetInfo } from '@rkt/cni/netinfo';
import { POD_FILES, type PodDetails, type PodState } from '@rkt/controller';
import type { ApiApp, ApiNetwork, ApiPod, AppStateName, KeyValue, PodFilter, PodStateName } from './messages.js';

/** The appc spec version every image is in (the store holds ACIs only). */
export const APPC_VERSION = '0.8.11';

/** One app of a pod, from its pod manifest (or stage0's record when the pod has none yet). */
export interface PodAppView {
  readonly name: string;
  readonly imageId: string;
  readonly imageName: string;
  /** The image manifest's "version" label (the pod's copy of the manifest), when it has one. */
  readonly imageVersion: string | undefined;
  readonly annotations: readonly KeyValue[];
  /** Its exit status, once its stage1 recorded one. */
  readonly exitCode: number | undefined;
}

/** What the API says about a pod, read from the pod directory at one moment (`readPodView`). */
export interface PodView {
  readonly uuid: string;
  readonly state: PodState;
  /**
   * rkt's Pod.Pid(): the `pid` file's number, else the `ppid` file's (the systemd stage1's systemd-nspawn), while
   * the pod runs and after; a prepared pod has neither.
   */
  readonly pid: number | undefined;
  readonly createdAt: Date | undefined;
  readonly startedAt: Date | undefined;
  /** When gc marked the pod (moved it to exited-garbage/ or garbage/: the directory's ctime, which the rename set, as rkt's GCMarkedTime). */
  readonly gcMarkedAt: Date | undefined;
  /** The pod manifest's bytes; undefined before the pod has one (embryo, preparing, an aborted prepare). */
  readonly manifest: Buffer | undefined;
  readonly annotations: readonly KeyValue[];
  readonly apps: readonly PodAppView[];
  readonly networks: readonly { readonly name: string; readonly ip: string }[];
  readonly cgroup: string;
}

/** rkt's PodState for each of rkt-ts's (`rkt list`'s words). A pod gc has marked is garbage to the API. */
export function apiPodState(state: PodState): PodStateName {
  switch (state) {
    case 'embryo':
      return 'POD_STATE_EMBRYO';
    case 'preparing':
      return 'POD_STATE_PREPARING';
    case 'aborted prepare':
      return 'POD_STATE_ABORTED_PREPARE';
    case 'prepared':
      return 'POD_STATE_PREPARED';
    case 'running':
      return 'POD_STATE_RUNNING';
    case 'exited':
      return 'POD_STATE_EXITED';
    case 'deleting':
      return 'POD_STATE_DELETING';
    case 'exited garbage':
    case 'garbage':
      return 'POD_STATE_GARBAGE';
  }
}

/** The states rkt's IsAfterRun named: the pod ran and has ended (its apps are exited, exit codes or not). */
const AFTER_RUN: readonly PodState[] = ['exited', 'exited garbage', 'deleting', 'garbage'];

/** The states in which rkt's CreationTime knew the pod's creation (it is 0 while preparing or after an aborted prepare). */
const CREATED: readonly PodState[] = ['prepared', 'running', ...AFTER_RUN];

/** rkt's Go time.UnixNano() as int64's decimal text; '0' for a time not known. */
export function unixNanos(d: Date | undefined): string {
  if (d === undefined || Number.isNaN(d.getTime())) return '0';
  return (BigInt(d.getTime()) * 1_000_000n).toString();
}

/** appc's `[{name, value}]` (annotations, labels) as the API's key-values; [] for anything else. */
export function keyValues(list: unknown): KeyValue[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((e: unknown) => {
    const o = e as { name?: unknown; value?: unknown } | null;
    return o !== null && typeof o === 'object' && typeof o.name === 'string' && typeof o.value === 'string' ? [{ Key: o.name, value: o.value }] : [];
  });
}

/**
 * The pod's cgroup, from the cgroups the pod's first process is in (`/proc/PID/cgroup`): the path down to the
 * directory named for the pod (`rkt-UUID`, systemd stage1's, or machined's `machine-rkt\x2dUUID.scope`), the
 * systemd hierarchy's first (`name=systemd`, what rkt read), else the unified one's. A process in no directory
 * of the pod's own (the fly stage1 makes none) reports its `name=systemd` cgroup, without a trailing
 * `/init.scope`, as rkt's getPodCgroup did (for fly: the cgroup `rkt run` was started in); on a host without
 * that hierarchy, its unified one. '' for a process gone or in no hierarchy.
 */
export function podCgroup(procCgroup: string, uuid: string): string {
  const names = [`rkt-${uuid}`, `machine-${`rkt-${uuid}`.replace(/-/g, '\\x2d')}.scope`];
  const lines = procCgroup.split('\n').map((l) => /^[0-9]+:([^:]*):(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const systemd = lines.filter((m) => m[1] === 'name=systemd');
  const unified = lines.filter((m) => m[1] === '');
  for (const m of [...systemd, ...unified, ...lines]) {
    const parts = m[2]!.split('/');
    const at = parts.findIndex((p) => names.includes(p));
    if (at >= 0) return parts.slice(0, at + 1).join('/');
  }
  const own = systemd[0] ?? unified[0];
  if (own === undefined) return '';
  const path = own[2]!.replace(/\/init\.scope$/, '');
  return path === '' ? '/' : path;
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function parseJson(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function versionLabel(manifest: Record<string, unknown> | undefined): string | undefined {
  return keyValues(manifest?.labels).find((l) => l.Key === 'version')?.value;
}

/** A file of the pod's holding a decimal number (a pid, an exit status), as rkt's readIntFromFile. */
function intFile(path: string): number | undefined {
  const text = readOptional(path)?.toString('utf8').trim();
  return text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

function exitOf(podDir: string, app: string): number | undefined {
  const text = readOptional(join(podDir, POD_FILES.appExit(app)))?.toString('utf8').trim();
  return text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

/**
 * Reads what the API shows of a pod from its directory: `podDetails` (the controller's reading, as `rkt list`
 * and `rkt status` have it) and the pod's own files, without taking its lock. The apps are the pod manifest's
 * (a mutable pod's added apps included), as rkt listed them.
 */
export function readPodView(d: PodDetails): PodView {
  const manifest = d.state === 'embryo' ? undefined : readOptional(join(d.path, POD_FILES.manifest));
  const doc = parseJson(manifest);
  const manifestApps = Array.isArray(doc?.apps) ? (doc.apps as unknown[]) : undefined;
  const recorded = new Map(d.apps.map((a) => [a.name, a]));
  const apps: PodAppView[] = [];
  const view = (name: string, imageId: string, imageName: string, annotations: readonly KeyValue[]): PodAppView => ({
    name,
    imageId,
    imageName,
    imageVersion: versionLabel(parseJson(readOptional(join(d.path, POD_FILES.appManifest(name))))),
    annotations,
    exitCode: d.appExitStatuses.get(name) ?? exitOf(d.path, name),
  });
  if (manifestApps !== undefined) {
    for (const a of manifestApps) {
      const o = a as { name?: unknown; image?: { id?: unknown; name?: unknown }; annotations?: unknown } | null;
      if (o === null || typeof o !== 'object' || typeof o.name !== 'string') continue;
      const rec = recorded.get(o.name);
      const imageId = typeof o.image?.id === 'string' ? o.image.id : (rec?.imageId ?? '');
      const imageName = typeof o.image?.name === 'string' ? o.image.name : (rec?.imageName ?? '');
      apps.push(view(o.name, imageId, imageName, keyValues(o.annotations)));
    }
  } else {
    for (const a of d.apps) apps.push(view(a.name, a.imageId, a.imageName, []));
  }
  let gcMarkedAt: Date | undefined;
  if (d.stateDir === 'exited-garbage' || d.stateDir === 'garbage') {
    try {
      gcMarkedAt = statSync(d.path).ctime;
    } catch {
      gcMarkedAt = undefined;
    }
  }
  const running = d.state === 'running';
  // d.pid is the pod's first process (the pid file's, or the ppid file's one child: rkt's ContainerPid1),
  // whose cgroup is the pod's.
  const procCgroup = running && d.pid !== undefined ? readOptional(`/proc/${d.pid}/cgroup`)?.toString('utf8') : undefined;
  return {
    uuid: d.uuid,
    state: d.state,
    pid: intFile(join(d.path, POD_FILES.pid)) ?? intFile(join(d.path, POD_FILES.ppid)),
    createdAt: d.createdAt,
    startedAt: d.startedAt,
    gcMarkedAt,
    manifest,
    annotations: keyValues(doc?.annotations),
    apps,
    // rkt returned networks for a running pod only.
    networks: running ? readNetInfo(d.path).map((n) => ({ name: n.netName, ip: n.ip })) : [],
    cgroup: procCgroup === undefined ? '' : podCgroup(procCgroup, d.uuid),
  };
}

/**
 * An app's state and exit code as rkt 1.30's fillPodDetails: by the pod's state, not the app's own (an app that
 * ended in a running pod is still APP_STATE_RUNNING, its exit code given); the exit code is the recorded one, 0
 * when none was recorded (rkt read a missing status file as 0), and -1 for a pod that has not run.
 */
function appState(pod: PodView, app: PodAppView): { state: AppStateName; exit_code: number } {
  if (pod.state === 'running') return { state: 'APP_STATE_RUNNING', exit_code: app.exitCode ?? 0 };
  if (AFTER_RUN.includes(pod.state)) return { state: 'APP_STATE_EXITED', exit_code: app.exitCode ?? 0 };
  return { state: 'APP_STATE_UNDEFINED', exit_code: -1 };
}

/**
 * The API's Pod, as rkt 1.30 built it (getBasicPod, fillPodDetails): `detail` only decides whether the pod
 * manifest's bytes are included (ListPods without it leaves out nothing else); each app has its image's ID,
 * name and version ("latest" without a version label), its state and exit code. An embryo shows its ID and
 * state only (rkt listed none).
 */
export function toApiPod(pod: PodView, detail: boolean): ApiPod {
  const base = { id: pod.uuid, state: apiPodState(pod.state), apps: [], networks: [], annotations: [], cgroup: '' };
  if (pod.state === 'embryo') return { ...base, pid: -1, created_at: '0', started_at: '0', gc_marked_at: '0' };
  const apps: ApiApp[] = pod.apps.map((a) => ({
    name: a.name,
    image: { base_format: { type: 'IMAGE_TYPE_APPC', version: APPC_VERSION }, id: a.imageId, name: a.imageName, version: a.imageVersion ?? 'latest' },
    ...appState(pod, a),
    annotations: a.annotations,
  }));
  const networks: ApiNetwork[] = pod.networks.map((n) => ({ name: n.name, ipv4: n.ip, ipv6: '' }));
  return {
    ...base,
    pid: pod.pid ?? -1,
    apps,
    networks,
    ...(detail && pod.manifest !== undefined ? { manifest: pod.manifest } : {}),
    annotations: pod.annotations,
    cgroup: pod.cgroup,
    created_at: CREATED.includes(pod.state) ? unixNanos(pod.createdAt) : '0',
    started_at: unixNanos(pod.startedAt),
    gc_marked_at: unixNanos(pod.gcMarkedAt),
  };
}

/** Whether `have` holds every key-value of `want` (rkt's containsAllKeyValues). */
export function hasAll(have: readonly KeyValue[], want: readonly KeyValue[]): boolean {
  return want.every((w) => have.some((h) => h.Key === w.Key && h.value === w.value));
}

const includesAll = (have: readonly string[], want: readonly string[]) => want.every((w) => have.includes(w));

/** rkt's satisfiesPodFilter: every condition the filter gives holds (see PodFilter in api.proto). */
export function matchesPodFilter(pod: ApiPod, f: PodFilter): boolean {
  if (f.ids.length > 0 && !f.ids.includes(pod.id)) return false;
  if (f.states.length > 0 && !f.states.includes(pod.state)) return false;
  if (!includesAll(pod.apps.map((a) => a.name), f.app_names)) return false;
  if (!includesAll(pod.apps.map((a) => a.image.id), f.image_ids)) return false;
  if (!includesAll(pod.networks.map((n) => n.name), f.network_names)) return false;
  if (!hasAll(pod.annotations, f.annotations)) return false;
  if (f.cgroups.length > 0 && !f.cgroups.includes(pod.cgroup)) return false;
  if (f.pod_sub_cgroups.length > 0 && (pod.cgroup === '' || !f.pod_sub_cgroups.some((c) => c.startsWith(pod.cgroup)))) return false;
  return true;
}

/**
 * rkt 1.30's satisfiesAnyPodFilters: no filters match every pod; otherwise a pod matches when one filter holds
 * (a pod without a manifest yet has no apps or annotations to match, but its ID and state still do).
 */
export function matchesAnyPodFilter(pod: ApiPod, filters: readonly PodFilter[]): boolean {
  return filters.length === 0 || filters.some((f) => matchesPodFilter(pod, f));
}
