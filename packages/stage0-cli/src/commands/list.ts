import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatNets, netInfoJson, readNetInfo, type NetInfo } from '@rkt/cni/netinfo';
import { listPods, podSummary, POD_FILES, type PodApp, type PodSummary } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { listingOptions, renderListing, shortImageId, type Column } from '../output/listing.js';
import { goTime, relativeTime } from './pods/times.js';

interface Row {
  readonly pod: PodSummary;
  /** The app of this line; the pod's own cells are printed on its first app's line only, as rkt did. */
  readonly app: PodApp | undefined;
  readonly first: boolean;
}

/**
 * rkt's getImageName: the image's name, and `:VERSION` when its manifest (the pod's copy) has a version
 * label. A manifest that cannot be read (the pod removed meanwhile) leaves the name alone.
 */
function imageNameOf(pod: PodSummary, app: PodApp): string {
  try {
    const manifest: unknown = JSON.parse(readFileSync(join(pod.path, POD_FILES.appManifest(app.name)), 'utf8'));
    const labels = (manifest as { labels?: unknown }).labels;
    const version = Array.isArray(labels) ? (labels as { name?: unknown; value?: unknown }[]).find((l) => l?.name === 'version')?.value : undefined;
    return typeof version === 'string' ? `${app.imageName}:${version}` : app.imageName;
  } catch {
    return app.imageName;
  }
}

/** The pod's CNI networks as its stage1 saved them in the pod directory; [] for a pod without any. */
const networksOf = (pod: PodSummary): NetInfo[] => readNetInfo(pod.path);

const when = (d: Date | undefined, full: boolean) => (d === undefined ? '' : full ? goTime(d) : relativeTime(d));

export async function run(ctx: CommandContext): Promise<void> {
  const opts = listingOptions(ctx.flags);
  // Read in a loop, synchronously: with 200 pods, promise reads cost more than the reads themselves.
  const pods = listPods(ctx.dataDir()).map((p) => {
    try {
      return podSummary(p);
    } catch (err) {
      // Removed or moved on (gc, rm) between the listing and the read: not a pod to show, nor a fault.
      if (!existsSync(p.path) && (err as { code?: unknown }).code === 'POD_NOT_FOUND') return undefined;
      ctx.log.warn(`unable to read pod ${p.uuid}: ${(err as Error).message}`);
      return undefined;
    }
  });
  const sorted = pods.filter((p): p is PodSummary => p !== undefined).sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  const rows: Row[] = [];
  for (const pod of sorted) {
    const apps = pod.apps;
    if (apps.length === 0) rows.push({ pod, app: undefined, first: true });
    apps.forEach((app, i) => rows.push({ pod, app, first: i === 0 }));
  }
  const pods1 = (f: (r: Row, full: boolean) => string) => (r: Row, full: boolean) => (r.first ? f(r, full) : '');
  const columns: Column<Row>[] = [
    { header: 'UUID', cell: pods1((r, full) => (full ? r.pod.uuid : r.pod.uuid.slice(0, 8))) },
    { header: 'APP', cell: (r) => r.app?.name ?? '-' },
    { header: 'IMAGE NAME', cell: (r) => (r.app ? imageNameOf(r.pod, r.app) : '-') },
    // rkt's list cut the ID to 19 characters (sha512- and 12 hex digits) under --full too.
    ...(opts.full ? [{ header: 'IMAGE ID', cell: (r: Row) => (r.app ? shortImageId(r.app.imageId) : '-') }] : []),
    { header: 'STATE', cell: pods1((r) => r.pod.state) },
    { header: 'CREATED', cell: pods1((r, full) => when(r.pod.createdAt, full)) },
    { header: 'STARTED', cell: pods1((r, full) => when(r.pod.startedAt, full)) },
    // rkt's `NAME:ip4=ADDRESS, ...` of the pod's CNI networks, as its stage1 saved them (`net-info.json`): empty
    // for a pod on the host's network (--net=host) and for one with only a loopback of its own (--net=none).
    { header: 'NETWORKS', cell: pods1((r) => formatNets(networksOf(r.pod))) },
  ];
  ctx.stdout.write(
    renderListing(rows, columns, {
      ...opts,
      json: () =>
        sorted.map((p) => ({
          name: p.uuid,
          state: p.state,
          networks: netInfoJson(networksOf(p)),
          app_names: p.apps.map((a) => a.name),
          images: p.apps.map((a) => ({ name: a.imageName, id: a.imageId })),
          ...(p.createdAt ? { created_at: Math.floor(p.createdAt.getTime() / 1000) } : {}),
          ...(p.startedAt ? { started_at: Math.floor(p.startedAt.getTime() / 1000) } : {}),
        })),
    }),
  );
}
