import { appOverridesValid, type PodManifest } from '@rkt/appc-spec/lean';
import type { PrepareAppInput } from './prepare.js';

/** The per-app overrides whose rules `appOverridesValid` checks without zod: the common flags of `rkt run`. */
const LEAN_OVERRIDES: ReadonlySet<string> = new Set(['exec', 'args', 'user', 'group', 'workingDirectory', 'environment']);

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
 * The text of a pod's manifest. A pod made only of stored images (validated at import), AC Names and the
 * common overrides (`--exec`, arguments, `--user`, `--group`, `--working-dir`, `--set-env`: checked by
 * `appOverridesValid`) is written as is; anything else the user gave (a `--pod-manifest`, volumes, mounts,
 * isolators), or an override that fails that check, is validated by the full schemas, whose zod is loaded
 * only then (its load time alone is most of a Node start) and whose error names the field and the rule.
 */
export async function podManifestText(m: PodManifest, inputs: readonly PrepareAppInput[], fromUser: boolean): Promise<string> {
  if (!fromUser && (m.volumes === undefined || m.volumes.length === 0) && inputs.every(onlyLeanOverrides) && m.apps.every((a) => a.app === undefined || appOverridesValid(a.app))) {
    return JSON.stringify(m);
  }
  const { serializePodManifest } = await import('@rkt/appc-spec');
  return serializePodManifest(m);
}
