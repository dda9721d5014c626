import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
// Lean (no zod): prepare runs this on every `rkt run`.
import { EMPTY_VOLUME_DEFAULTS, type Mount, type MountPoint, type Volume } from '@rkt/appc-spec/lean';
import { PodError } from './errors.js';

/** One volume mount of one app, as stage0 sets it up before the stage1 starts (`pod-info.json`). */
export interface AppMount {
  readonly volume: string;
  readonly kind: 'host' | 'empty';
  /** For a host volume: the host path. An empty volume lives in the pod directory (`POD_FILES.volume`). */
  readonly source?: string;
  /** The path inside the app's root filesystem, resolved there (never on the host) when mounted. */
  readonly target: string;
  readonly readOnly: boolean;
  /** `--rbind` rather than `--bind` (host volumes; rkt's default is recursive). */
  readonly recursive: boolean;
}

/** What planning needs of one app: its name, its explicit mounts and its image's mount points. */
export interface AppVolumeInput {
  readonly name: string;
  readonly mounts?: readonly Mount[];
  readonly mountPoints?: readonly MountPoint[];
}

const normal = (p: string): string => posix.normalize(`/${p}`).replace(/(.)\/+$/, '$1');

/**
 * Checks the pod's volumes before anything is written: names are unique and every host source exists
 * (a missing one is a one-line error, not a half-made pod). Cheap for a pod without volumes.
 */
export async function checkVolumes(volumes: readonly Volume[]): Promise<void> {
  const seen = new Set<string>();
  for (const v of volumes) {
    if (seen.has(v.name)) throw new PodError('POD_VOLUME', `volume ${JSON.stringify(v.name)} is given twice: volume names must be unique`, { subject: v.name });
    seen.add(v.name);
  }
  await Promise.all(
    volumes.map(async (v) => {
      if (v.kind !== 'host') return;
      const st = await stat(v.source).catch((err: NodeJS.ErrnoException) => {
        throw new PodError('POD_VOLUME', `volume ${JSON.stringify(v.name)}: host source ${v.source}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, {
          subject: v.source,
          cause: err,
        });
      });
      if (!st.isDirectory() && !st.isFile()) {
        throw new PodError('POD_VOLUME', `volume ${JSON.stringify(v.name)}: host source ${v.source} is neither a directory nor a file`, { subject: v.source });
      }
    }),
  );
}

/**
 * rkt's implicit volumes: a mount point of an app's image that neither a mount of that app nor a pod
 * volume of its name serves gets an empty volume of its name, written into the pod manifest (rkt said
 * so on stderr: it goes away with the pod).
 */
export function implicitVolumes(volumes: readonly Volume[], apps: readonly AppVolumeInput[]): Volume[] {
  const names = new Set(volumes.map((v) => v.name));
  const added: Volume[] = [];
  for (const app of apps) {
    const paths = new Set((app.mounts ?? []).map((m) => normal(m.path)));
    for (const mp of app.mountPoints ?? []) {
      if (paths.has(normal(mp.path)) || names.has(mp.name)) continue;
      names.add(mp.name);
      added.push({ name: mp.name, kind: 'empty', mode: EMPTY_VOLUME_DEFAULTS.mode, uid: EMPTY_VOLUME_DEFAULTS.uid, gid: EMPTY_VOLUME_DEFAULTS.gid });
    }
  }
  return added;
}

/**
 * rkt's GenerateMounts: the app's explicit mounts (each naming a pod volume, or carrying its own
 * `appVolume`), then each image mount point not already served at its path, by the pod volume of its
 * name. `readOnly` on the volume wins over the mount point's. Parents are mounted before what lies
 * below them (a volume at /data/logs inside a volume at /data).
 */
export function appMounts(app: AppVolumeInput, volumes: readonly Volume[]): AppMount[] {
  const byName = new Map(volumes.map((v) => [v.name, v]));
  const where = `app ${JSON.stringify(app.name)}`;
  const pointReadOnly = (name: string): boolean | undefined => app.mountPoints?.find((mp) => mp.name === name)?.readOnly;
  const out: AppMount[] = [];
  const targets = new Set<string>();
  const add = (v: Volume, path: string): void => {
    const target = normal(path);
    if (target === '/') throw new PodError('POD_VOLUME', `${where}: volume ${JSON.stringify(v.name)} cannot be mounted on the app's root /`, { subject: app.name });
    if (targets.has(target)) throw new PodError('POD_VOLUME', `${where}: two mounts at ${target}`, { subject: app.name });
    targets.add(target);
    out.push({
      volume: v.name,
      kind: v.kind,
      ...(v.kind === 'host' ? { source: v.source } : {}),
      target,
      readOnly: v.readOnly ?? pointReadOnly(v.name) ?? false,
      recursive: v.kind === 'host' && v.recursive !== false,
    });
  };
  for (const m of app.mounts ?? []) {
    const v = m.appVolume ?? byName.get(m.volume);
    if (v === undefined) {
      const known = [...byName.keys()];
      throw new PodError(
        'POD_VOLUME',
        `${where}: mount at ${m.path} names volume ${JSON.stringify(m.volume)}, which the pod does not have (${known.length === 0 ? 'no volumes given' : `volumes: ${known.join(', ')}`})`,
        { subject: m.volume },
      );
    }
    add(v, m.path);
  }
  for (const mp of app.mountPoints ?? []) {
    if (targets.has(normal(mp.path))) continue;
    const v = byName.get(mp.name);
    if (v === undefined) throw new PodError('POD_VOLUME', `${where}: no volume for mount point ${JSON.stringify(mp.name)} at ${mp.path}`, { subject: mp.name });
    add(v, mp.path);
  }
  const depth = (p: string): number => p.split('/').length;
  return out.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.target) - depth(b.m.target) || a.i - b.i).map(({ m }) => m);
}
