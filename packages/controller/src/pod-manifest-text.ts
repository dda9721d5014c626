import { runtimeAppOverridesValid, volumesValid, type PodManifest } from '@rkt/appc-spec/lean';
import type { PrepareAppInput } from './prepare.js';

/** The per-app inputs the lean checks below cover: `rkt run`'s common flags. */
const LEAN_OVERRIDES: ReadonlySet<string> = new Set([
  'exec',
  'args',
  'user',
  'group',
  'workingDirectory',
  'environment',
  'isolators',
  'mounts',
  'supplementaryGIDs',
  'userAnnotations',
  'userLabels',
  'readOnlyRootFS',
]);

/**
 * Whether an app carries nothing of the user's beyond its image, a name (which prepare checks itself) and
 * overrides checked without zod. Every other field counts, so that an override added later is validated by
 * the schemas without anyone having to remember this list.
 */
function onlyLeanOverrides(input: PrepareAppInput): boolean {
  return Object.entries(input).every(
    ([key, value]) => key === 'imageId' || key === 'name' || LEAN_OVERRIDES.has(key) || value === undefined || (Array.isArray(value) && value.length === 0),
  );
}

/**
 * The text of a pod's manifest. A pod made only of stored images (validated at import), AC Names and what
 * `rkt run`'s flags give (`--exec`, arguments, `--user`, `--group`, `--working-dir`, `--set-env`, the isolator
 * flags, `--volume`, `--mount`, `--supplementary-gids`, `--user-annotation`, `--user-label`, `--readonly-rootfs`:
 * checked by `@rkt/appc-spec/lean`) is written as is; a `--pod-manifest`, or a
 * value those checks refuse or do not know, is validated by the full schemas, whose zod is loaded only then
 * (its load time alone is most of a Node start) and whose error names the field and the rule.
 */
export async function podManifestText(m: PodManifest, inputs: readonly PrepareAppInput[], fromUser: boolean): Promise<string> {
  const lean =
    !fromUser &&
    inputs.every(onlyLeanOverrides) &&
    (m.volumes === undefined || volumesValid(m.volumes)) &&
    m.ports === undefined &&
    m.apps.every(runtimeAppOverridesValid);
  if (lean) return JSON.stringify(m);
  const { serializePodManifest } = await import('@rkt/appc-spec');
  return serializePodManifest(m);
}
