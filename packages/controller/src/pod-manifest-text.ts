import type { PodManifest } from '@rkt/appc-spec/lean';
import type { PrepareAppInput } from './prepare.js';

/**
 * Whether an app carries anything of the user's beyond its image and a name (which prepare checks
 * itself). Every other field counts, so that an override added later is validated without anyone
 * having to remember this list.
 */
function hasOverrides(input: PrepareAppInput): boolean {
  return Object.entries(input).some(
    ([key, value]) => key !== 'imageId' && key !== 'name' && value !== undefined && !(Array.isArray(value) && value.length === 0),
  );
}

/**
 * The text of a pod's manifest. A pod made only of stored images (validated at import) and AC Names is
 * valid by construction, so it is written as is; anything the user gave (a `--pod-manifest`, volumes,
 * per-app overrides) is validated by the full schemas, whose zod is loaded only then: zod's load time
 * alone is most of a Node start, and `rkt run IMAGE` should not pay it.
 */
export async function podManifestText(m: PodManifest, inputs: readonly PrepareAppInput[], fromUser: boolean): Promise<string> {
  if (!fromUser && (m.volumes === undefined || m.volumes.length === 0) && !inputs.some(hasOverrides)) return JSON.stringify(m);
  const { serializePodManifest } = await import('@rkt/appc-spec');
  return serializePodManifest(m);
}
