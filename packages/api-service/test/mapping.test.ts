import { describe, expect, it } from 'vitest';
import type { ImageRecord } from '@rkt/image-store';
import { ApiServiceError, apiPodState, matchesEventFilter, toApiEvent, bindTarget, matchesAnyPodFilter, matchesImageFilter, matchesPodFilter, parseListen, podCgroup, toApiImage, toApiPod, unixNanos } from '../src/index.js';
import type { ImageFilter, PodFilter, PodView } from '../src/index.js';

const UUID = '6a9e2c3b-1f0e-4d2a-9b7c-0123456789ab';
const IMG = `sha512-${'a'.repeat(128)}`;
const IMG2 = `sha512-${'b'.repeat(128)}`;

const pod = (over: Partial<PodView> = {}): PodView => ({
  uuid: UUID,
  state: 'running',
  pid: 4242,
  createdAt: new Date('2026-11-30T10:00:00.123Z'),
  startedAt: new Date('2026-11-30T10:00:01Z'),
  gcMarkedAt: undefined,
  manifest: Buffer.from('{"acKind":"PodManifest"}'),
  annotations: [{ Key: 'team', value: 'infra' }],
  apps: [
    { name: 'web', imageId: IMG, imageName: 'example.com/web', imageVersion: '1.0', annotations: [], exitCode: undefined },
    { name: 'job', imageId: IMG2, imageName: 'example.com/job', imageVersion: undefined, annotations: [{ Key: 'a', value: 'b' }], exitCode: 3 },
  ],
  networks: [{ name: 'default', ip: '172.16.28.2' }],
  cgroup: '/machine.slice/rkt-6a9e2c3b-1f0e-4d2a-9b7c-0123456789ab',
  ...over,
});

const podFilter = (over: Partial<PodFilter>): PodFilter => ({ ids: [], states: [], app_names: [], image_ids: [], network_names: [], annotations: [], cgroups: [], pod_sub_cgroups: [], ...over });
const imageFilter = (over: Partial<ImageFilter>): ImageFilter => ({
  ids: [], prefixes: [], base_names: [], keywords: [], labels: [], imported_after: '0', imported_before: '0', annotations: [], full_names: [], ...over,
});

describe('pod states', () => {
  it("map rkt-ts's states to rkt's PodState, a gc-marked pod being garbage", () => {
    expect(apiPodState('embryo')).toBe('POD_STATE_EMBRYO');
    expect(apiPodState('preparing')).toBe('POD_STATE_PREPARING');
    expect(apiPodState('aborted prepare')).toBe('POD_STATE_ABORTED_PREPARE');
    expect(apiPodState('prepared')).toBe('POD_STATE_PREPARED');
    expect(apiPodState('running')).toBe('POD_STATE_RUNNING');
    expect(apiPodState('exited')).toBe('POD_STATE_EXITED');
    expect(apiPodState('deleting')).toBe('POD_STATE_DELETING');
    expect(apiPodState('exited garbage')).toBe('POD_STATE_GARBAGE');
    expect(apiPodState('garbage')).toBe('POD_STATE_GARBAGE');
  });
});

describe('toApiPod', () => {
  it('with detail: apps with image name, version (latest without one), state and exit code; manifest; times in ns', () => {
    const p = toApiPod(pod(), true);
    expect(p).toMatchObject({ id: UUID, pid: 4242, state: 'POD_STATE_RUNNING', cgroup: '/machine.slice/rkt-6a9e2c3b-1f0e-4d2a-9b7c-0123456789ab' });
    expect(p.apps[0]).toEqual({ name: 'web', image: { base_format: { type: 'IMAGE_TYPE_APPC', version: '0.8.11' }, id: IMG, name: 'example.com/web', version: '1.0' }, state: 'APP_STATE_RUNNING', exit_code: 0, annotations: [] });
    expect(p.manifest?.toString()).toBe('{"acKind":"PodManifest"}');
    expect(p.created_at).toBe('1796032800123000000');
    expect(p.gc_marked_at).toBe('0');
    expect(p.networks).toEqual([{ name: 'default', ipv4: '172.16.28.2', ipv6: '' }]);
  });

  it('apps take the state of the pod, as rkt 1.30: an app that ended in a running pod is running, with its exit code', () => {
    expect(toApiPod(pod(), true).apps[1]).toMatchObject({ name: 'job', state: 'APP_STATE_RUNNING', exit_code: 3, image: { version: 'latest' } });
    const exited = toApiPod(pod({ state: 'exited' }), true);
    expect(exited.apps.map((a) => [a.state, a.exit_code])).toEqual([['APP_STATE_EXITED', 0], ['APP_STATE_EXITED', 3]]);
    expect(toApiPod(pod({ state: 'exited garbage' }), true).apps[1]).toMatchObject({ state: 'APP_STATE_EXITED', exit_code: 3 });
    const prepared = toApiPod(pod({ state: 'prepared', pid: undefined }), true);
    expect(prepared.apps.map((a) => [a.state, a.exit_code])).toEqual([['APP_STATE_UNDEFINED', -1], ['APP_STATE_UNDEFINED', -1]]);
  });

  it('without detail only the manifest is left out (rkt 1.30): apps keep image name, version, state and exit code', () => {
    const p = toApiPod(pod(), false);
    expect(p.manifest).toBeUndefined();
    expect(p.apps[1]).toEqual({
      name: 'job',
      image: { base_format: { type: 'IMAGE_TYPE_APPC', version: '0.8.11' }, id: IMG2, name: 'example.com/job', version: 'latest' },
      state: 'APP_STATE_RUNNING',
      exit_code: 3,
      annotations: [{ Key: 'a', value: 'b' }],
    });
  });

  it("pid: the pod's pid file (or ppid) whatever its state, -1 without; created_at 0 while preparing; an embryo only its ID and state", () => {
    expect(toApiPod(pod({ state: 'prepared', pid: undefined }), true).pid).toBe(-1);
    expect(toApiPod(pod({ state: 'exited', pid: 7 }), true).pid).toBe(7);
    expect(toApiPod(pod({ state: 'aborted prepare', pid: undefined }), true).created_at).toBe('0');
    expect(toApiPod(pod({ state: 'prepared' }), true).created_at).toBe('1796032800123000000');
    expect(toApiPod(pod({ state: 'embryo' }), true)).toEqual({ id: UUID, state: 'POD_STATE_EMBRYO', pid: -1, apps: [], networks: [], annotations: [], cgroup: '', created_at: '0', started_at: '0', gc_marked_at: '0' });
  });

  it('unixNanos is exact past 2^53 and 0 for an unknown time', () => {
    expect(unixNanos(new Date(1_700_000_000_999))).toBe('1700000000999000000');
    expect(unixNanos(undefined)).toBe('0');
    expect(unixNanos(new Date('nonsense'))).toBe('0');
  });
});

describe('pod filters', () => {
  const p = toApiPod(pod(), false);
  it('ids and states: any of them; apps, images, networks, annotations: all of them', () => {
    expect(matchesPodFilter(p, podFilter({ ids: ['x', UUID] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ ids: ['x'] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ states: ['POD_STATE_EXITED', 'POD_STATE_RUNNING'] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ states: ['POD_STATE_EXITED'] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ app_names: ['web', 'job'] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ app_names: ['web', 'other'] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ image_ids: [IMG2] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ image_ids: [IMG2, `sha512-${'c'.repeat(128)}`] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ network_names: ['default'] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ network_names: ['default', 'other'] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ annotations: [{ Key: 'team', value: 'infra' }] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ annotations: [{ Key: 'team', value: 'web' }] }))).toBe(false);
  });

  it("cgroups: exactly; pod sub-cgroups: the pod's cgroup is a prefix of one; a pod without a cgroup matches neither", () => {
    expect(matchesPodFilter(p, podFilter({ cgroups: [p.cgroup] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ cgroups: [`${p.cgroup}/system.slice`] }))).toBe(false);
    expect(matchesPodFilter(p, podFilter({ pod_sub_cgroups: [`${p.cgroup}/system.slice/web.service`] }))).toBe(true);
    expect(matchesPodFilter(p, podFilter({ pod_sub_cgroups: ['/machine.slice'] }))).toBe(false);
    const none = toApiPod(pod({ cgroup: '' }), false);
    expect(matchesPodFilter(none, podFilter({ pod_sub_cgroups: ['/anything'] }))).toBe(false);
  });

  it('filters are ORed; none matches all; a pod without a manifest yet is matched on what it has (rkt 1.30)', () => {
    expect(matchesAnyPodFilter(p, [])).toBe(true);
    expect(matchesAnyPodFilter(p, [podFilter({ ids: ['x'] }), podFilter({ app_names: ['web'] })])).toBe(true);
    expect(matchesAnyPodFilter(p, [podFilter({ ids: ['x'] })])).toBe(false);
    const preparing = toApiPod(pod({ state: 'preparing', manifest: undefined, apps: [], annotations: [], pid: undefined }), false);
    expect(matchesAnyPodFilter(preparing, [podFilter({ states: ['POD_STATE_PREPARING'] })])).toBe(true);
    expect(matchesAnyPodFilter(preparing, [podFilter({})])).toBe(true);
    expect(matchesAnyPodFilter(preparing, [podFilter({ app_names: ['web'] })])).toBe(false);
  });
});

describe('podCgroup', () => {
  it("takes the systemd hierarchy's path down to the pod's directory, else the unified one's, else ''", () => {
    const proc = ['12:memory:/rkt-X/system.slice', `1:name=systemd:/machine.slice/rkt-${UUID}/init.scope`, `0::/other/rkt-${UUID}/payload`].join('\n').replace('rkt-X', `rkt-${UUID}`);
    expect(podCgroup(proc, UUID)).toBe(`/machine.slice/rkt-${UUID}`);
    expect(podCgroup(`0::/other/rkt-${UUID}/payload\n`, UUID)).toBe(`/other/rkt-${UUID}`);
    expect(podCgroup(`1:name=systemd:/machine.slice/machine-rkt\\x2d${UUID.replace(/-/g, '\\x2d')}.scope/payload\n`, UUID)).toBe(`/machine.slice/machine-rkt\\x2d${UUID.replace(/-/g, '\\x2d')}.scope`);
  });

  it("a process in no directory of the pod's (fly) reports its systemd cgroup without /init.scope, as rkt; else its unified one", () => {
    expect(podCgroup('4:memory:/m\n1:name=systemd:/system.slice/kubelet.service\n0::/x\n', UUID)).toBe('/system.slice/kubelet.service');
    expect(podCgroup('1:name=systemd:/init.scope\n', UUID)).toBe('/');
    expect(podCgroup('1:name=systemd:/\n0::/user.slice\n', UUID)).toBe('/');
    expect(podCgroup('0::/user.slice/session-1.scope\n', UUID)).toBe('/user.slice/session-1.scope');
    expect(podCgroup('', UUID)).toBe('');
  });
});

describe('images', () => {
  const record: ImageRecord = { id: IMG, name: 'coreos.com/etcd', labels: [], importedAt: 1_700_000_000_500, lastUsedAt: 0, blobSize: 1000, treeSize: 24, latest: false };
  const manifest = Buffer.from(JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'coreos.com/etcd', labels: [{ name: 'version', value: '3.1' }, { name: 'os', value: 'linux' }], annotations: [{ name: 'authors', value: 'me' }] }));
  const img = toApiImage({ record, manifest }, true);

  it('toApiImage: name, version label, import time in s, size, labels, annotations, manifest bytes as stored', () => {
    expect(img).toEqual({
      base_format: { type: 'IMAGE_TYPE_APPC', version: '0.8.11' },
      id: IMG,
      name: 'coreos.com/etcd',
      version: '3.1',
      import_timestamp: '1700000000',
      manifest,
      size: '1024',
      annotations: [{ Key: 'authors', value: 'me' }],
      labels: [{ Key: 'version', value: '3.1' }, { Key: 'os', value: 'linux' }],
    });
    expect(toApiImage({ record, manifest }, false).manifest).toBeUndefined();
  });

  it("filters as rkt's: prefixes, base names, keywords, full names, labels, annotations, import times", () => {
    expect(matchesImageFilter(img, imageFilter({ ids: [IMG] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ ids: [IMG2] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ prefixes: ['coreos.com/'] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ prefixes: ['k8s.io/'] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ base_names: ['etcd'] }))).toBe(true);
    expect(matchesImageFilter(toApiImage({ record: { ...record, name: 'k8s.io/etcd-backup' }, manifest }, false), imageFilter({ base_names: ['etcd'] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ keywords: ['tcd'] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ keywords: ['zk'] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ full_names: ['coreos.com/etcd'] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ full_names: ['etcd'] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ labels: [{ Key: 'os', value: 'linux' }, { Key: 'version', value: '3.1' }] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ labels: [{ Key: 'os', value: 'darwin' }] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ annotations: [{ Key: 'authors', value: 'me' }] }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ annotations: [{ Key: 'authors', value: 'you' }] }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ imported_after: '1699999999' }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ imported_after: '1700000000' }))).toBe(false);
    expect(matchesImageFilter(img, imageFilter({ imported_before: '1700000001' }))).toBe(true);
    expect(matchesImageFilter(img, imageFilter({ imported_before: '1700000000' }))).toBe(false);
  });
});

describe('--listen', () => {
  it("reads Go's HOST:PORT forms", () => {
    expect(parseListen('localhost:15441')).toEqual({ host: 'localhost', port: 15441 });
    expect(parseListen(':15441')).toEqual({ host: '', port: 15441 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(bindTarget(parseListen('[::1]:80'))).toBe('[::1]:80');
    expect(bindTarget(parseListen(':80'))).toBe('[::]:80');
    expect(bindTarget(parseListen('127.0.0.1:80'))).toBe('127.0.0.1:80');
  });

  it('refuses anything else in one line naming the value', () => {
    for (const bad of ['localhost', '15441', 'localhost:', 'localhost:65536', 'localhost:http', '::1:80', '[nothost]:80', 'a b:80', 'h:1:2']) {
      expect(() => parseListen(bad), bad).toThrow(ApiServiceError);
      try {
        parseListen(bad);
      } catch (err) {
        expect((err as ApiServiceError).code).toBe('API_BAD_LISTEN');
        expect((err as Error).message).toContain(`--listen=${JSON.stringify(bad)}`);
        expect((err as Error).message).not.toContain('\n');
      }
    }
  });
});

describe('events', () => {
  const at = '2026-11-30T10:00:00.500Z';
  const secs = String(Math.floor(Date.parse(at) / 1000));
  it("map the lifecycle topics rkt's EventType names, the payload as data; app events are from the app", () => {
    expect(toApiEvent({ timestamp: at, topic: 'pod/running', podUuid: UUID, payload: {} })).toEqual({ type: 'EVENT_TYPE_POD_STARTED', id: UUID, from: UUID, time: secs, data: [] });
    expect(toApiEvent({ timestamp: at, topic: 'app/exited', podUuid: UUID, payload: { app: 'web', exitStatus: 3 } })).toEqual({
      type: 'EVENT_TYPE_APP_EXITED', id: UUID, from: 'web', time: secs, data: [{ Key: 'exitStatus', value: '3' }],
    });
    expect(toApiEvent({ timestamp: at, topic: 'pod/prepared', podUuid: UUID, payload: {} })?.type).toBe('EVENT_TYPE_POD_PREPARED');
    expect(toApiEvent({ timestamp: at, topic: 'pod/exited', podUuid: UUID, payload: { exitStatus: 0 } })?.type).toBe('EVENT_TYPE_POD_EXITED');
    expect(toApiEvent({ timestamp: at, topic: 'pod/garbage-collected', podUuid: UUID, payload: {} })?.type).toBe('EVENT_TYPE_POD_GARBAGE_COLLECTED');
    expect(toApiEvent({ timestamp: at, topic: 'app/started', podUuid: UUID, payload: { app: 'web' } })?.type).toBe('EVENT_TYPE_APP_STARTED');
    for (const topic of ['pod/marked', 'pod/stopped', 'pod/removed', 'app/added', 'app/removed'] as const) expect(toApiEvent({ timestamp: at, topic, podUuid: UUID, payload: {} }), topic).toBeUndefined();
  });

  it('filter by types, ids, names (any of each) and since/until times', () => {
    const e = toApiEvent({ timestamp: at, topic: 'app/exited', podUuid: UUID, payload: { app: 'web', exitStatus: 3 } })!;
    const f = (over: object) => ({ types: [], ids: [], names: [], since_time: '0', until_time: '0', ...over });
    expect(matchesEventFilter(e, null)).toBe(true);
    expect(matchesEventFilter(e, f({ types: ['EVENT_TYPE_POD_EXITED', 'EVENT_TYPE_APP_EXITED'] }))).toBe(true);
    expect(matchesEventFilter(e, f({ types: ['EVENT_TYPE_POD_EXITED'] }))).toBe(false);
    expect(matchesEventFilter(e, f({ ids: [UUID] }))).toBe(true);
    expect(matchesEventFilter(e, f({ ids: ['other'] }))).toBe(false);
    expect(matchesEventFilter(e, f({ names: ['web'] }))).toBe(true);
    expect(matchesEventFilter(e, f({ names: [UUID] }))).toBe(false);
    expect(matchesEventFilter(e, f({ since_time: secs, until_time: secs }))).toBe(true);
    expect(matchesEventFilter(e, f({ since_time: String(Number(secs) + 1) }))).toBe(false);
    expect(matchesEventFilter(e, f({ until_time: String(Number(secs) - 1) }))).toBe(false);
  });
});
