import type { Mount } from '../manifest/pod-manifest.js';
import { isAcName } from '../types/ac-name-rule.js';
import { isAbsolutePath } from '../types/path-rule.js';
import type { Volume } from '../types/volume.js';
import { VOLUME_MODE_RE } from '../types/volume-mode-rule.js';

const HOST_KEYS: ReadonlySet<string> = new Set(['name', 'kind', 'source', 'readOnly', 'recursive']);
const EMPTY_KEYS: ReadonlySet<string> = new Set(['name', 'kind', 'readOnly', 'recursive', 'mode', 'uid', 'gid']);

/**
 * Whether a pod's volumes (`--volume`, and the empty ones rkt adds for mount points nothing serves) pass
 * the pod manifest schema's rules, names unique, without zod. Like `appOverridesValid` it only answers: on
 * false, validate with the schemas, whose error names the field. Anything unusual (another key, a `null`)
 * is left to them too. test/lean.test.ts compares the answer with `podManifestSchema`'s.
 */
export function volumesValid(volumes: readonly Volume[]): boolean {
  if (!Array.isArray(volumes)) return false;
  const names = new Set<string>();
  for (const v of volumes as readonly unknown[]) {
    if (!volumeValid(v)) return false;
    const { name } = v as Volume;
    if (names.has(name)) return false;
    names.add(name);
  }
  return true;
}

/** Whether an app's mounts (`--mount`) pass `mountSchema`'s rules, without zod; one with an `appVolume` is left to the schemas. */
export function mountsValid(mounts: readonly Mount[]): boolean {
  if (!Array.isArray(mounts)) return false;
  return (mounts as readonly unknown[]).every((m) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
    const { volume, path, ...rest } = m as Record<string, unknown>;
    return Object.keys(rest).length === 0 && isAcName(volume) && typeof path === 'string' && path !== '';
  });
}

function volumeValid(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  const keys = r.kind === 'host' ? HOST_KEYS : r.kind === 'empty' ? EMPTY_KEYS : undefined;
  if (keys === undefined || !Object.keys(r).every((k) => keys.has(k))) return false;
  if (!isAcName(r.name) || !optionalBoolean(r.readOnly) || !optionalBoolean(r.recursive)) return false;
  if (r.kind === 'host') return typeof r.source === 'string' && isAbsolutePath(r.source);
  return (r.mode === undefined || (typeof r.mode === 'string' && VOLUME_MODE_RE.test(r.mode))) && optionalUint32(r.uid) && optionalUint32(r.gid);
}

function optionalBoolean(v: unknown): boolean {
  return v === undefined || typeof v === 'boolean';
}

function optionalUint32(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff);
}
