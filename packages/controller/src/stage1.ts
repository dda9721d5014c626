import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Lean: the pod's copy of the stage1 manifest was validated when the stage1 image was imported.
import { getAnnotation, readValidatedImageManifest, type ImageManifest } from '@rkt/appc-spec/lean';
import { PodError } from './errors.js';
import { POD_FILES } from './layout.js';

/** The stage1 entrypoint annotations of rkt's stage1 implementors' guide. */
export const STAGE1_ANNOTATIONS = {
  run: 'coreos.com/rkt/stage1/run',
  enter: 'coreos.com/rkt/stage1/enter',
  gc: 'coreos.com/rkt/stage1/gc',
  stop: 'coreos.com/rkt/stage1/stop',
  interfaceVersion: 'coreos.com/rkt/stage1/interface-version',
} as const;
export type Stage1Entrypoint = 'run' | 'enter' | 'gc' | 'stop';

/**
 * The stage1 interface versions this stage0 drives. Version 1: run (with RKT_LOCK_FD and the UUID
 * as the last argument), enter, gc; stop is used when the image names it, otherwise stage0 signals
 * the pid itself, as rkt did for stage1s without one.
 */
export const SUPPORTED_INTERFACE_VERSIONS = [1] as const;

/** Checks that an image is a stage1 this stage0 can drive; returns its interface version. */
export function checkStage1Manifest(m: ImageManifest, source: string): number {
  const run = getAnnotation(m.annotations, STAGE1_ANNOTATIONS.run);
  if (run === undefined) {
    throw new PodError('POD_STAGE1', `${source} (${m.name}) is not a stage1 image: it has no ${STAGE1_ANNOTATIONS.run} annotation`, { subject: source });
  }
  const raw = getAnnotation(m.annotations, STAGE1_ANNOTATIONS.interfaceVersion) ?? '1';
  const version = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(SUPPORTED_INTERFACE_VERSIONS as readonly number[]).includes(version)) {
    throw new PodError(
      'POD_STAGE1',
      `${source} (${m.name}): stage1 interface version ${JSON.stringify(raw)} is not supported (supported: ${SUPPORTED_INTERFACE_VERSIONS.join(', ')})`,
      { subject: source },
    );
  }
  return version;
}

/** The absolute path of a pod's stage1 entrypoint, or undefined when its stage1 has none of that kind. */
export function stage1Entrypoint(podDir: string, kind: Stage1Entrypoint): string | undefined {
  const path = join(podDir, POD_FILES.stage1Manifest);
  let m: ImageManifest;
  try {
    m = readValidatedImageManifest(readFileSync(path), path);
  } catch (err) {
    throw new PodError('POD_STAGE1', `cannot read the stage1 manifest of the pod: ${(err as Error).message}`, { subject: path, cause: err });
  }
  const rel = getAnnotation(m.annotations, STAGE1_ANNOTATIONS[kind]);
  return rel === undefined ? undefined : join(podDir, POD_FILES.stage1Rootfs, rel);
}
