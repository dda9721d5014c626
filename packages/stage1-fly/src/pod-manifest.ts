import type { App, PodManifest, RuntimeApp } from '@rkt/appc-spec';
import { FlyError } from './exec-spec.js';

/**
 * Reads the pod manifest stage0 wrote. Stage0 validated it against `@rkt/appc-spec`'s schemas before
 * writing it (temp + rename, so it is never torn); loading zod here would cost the fly entrypoint
 * more than everything else it does (about 0.3 s of a 0.5 s start), so this checks only the shape
 * fly relies on, against the schema's own types.
 */
export function readPodManifest(text: string, source: string): PodManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new FlyError('FLY_BAD_POD', `${source}: invalid JSON: ${(err as Error).message}`);
  }
  const m = doc as Partial<PodManifest> | null;
  if (m === null || typeof m !== 'object' || m.acKind !== 'PodManifest' || !Array.isArray(m.apps)) {
    throw new FlyError('FLY_BAD_POD', `${source}: not a pod manifest`);
  }
  m.apps.forEach((a: Partial<RuntimeApp>, i) => {
    if (typeof a?.name !== 'string' || typeof a.image?.id !== 'string') {
      throw new FlyError('FLY_BAD_POD', `${source}: apps[${i}]: needs a name and an image ID (a reified pod manifest)`);
    }
    if (a.app !== undefined) checkApp(a.app, `${source}: apps[${i}].app`);
  });
  return m as PodManifest;
}

function checkApp(app: Partial<App>, where: string): void {
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (app.exec !== undefined && !strings(app.exec)) throw new FlyError('FLY_BAD_POD', `${where}.exec: must be an array of strings`);
  if (typeof app.user !== 'string' || typeof app.group !== 'string') throw new FlyError('FLY_BAD_POD', `${where}: user and group are required`);
  if (app.workingDirectory !== undefined && typeof app.workingDirectory !== 'string') {
    throw new FlyError('FLY_BAD_POD', `${where}.workingDirectory: must be a string`);
  }
  if (app.environment !== undefined && !(Array.isArray(app.environment) && app.environment.every((e) => typeof e?.name === 'string' && typeof e.value === 'string'))) {
    throw new FlyError('FLY_BAD_POD', `${where}.environment: must be a list of name/value pairs`);
  }
  if (app.supplementaryGIDs !== undefined && !(Array.isArray(app.supplementaryGIDs) && app.supplementaryGIDs.every((g) => Number.isInteger(g) && g >= 0))) {
    throw new FlyError('FLY_BAD_POD', `${where}.supplementaryGIDs: must be a list of group IDs`);
  }
}
