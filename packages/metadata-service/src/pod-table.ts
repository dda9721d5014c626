import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ImageManifestJson, PodManifestJson, Registration } from './registration.js';

export interface RegisteredPod {
  readonly uuid: string;
  readonly manifest: PodManifestJson;
  readonly apps: ReadonlyMap<string, ImageManifestJson>;
  readonly ip: string | undefined;
}

interface TokenEntry {
  readonly uuid: string;
  readonly digest: Buffer;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * The registered pods, found by the token in an app's URL. Tokens are 256 random bits; the table is keyed
 * by the token's SHA-256, so a lookup's timing says nothing about the token itself, and the match is then
 * confirmed with a constant-time comparison.
 */
export class PodTable {
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #pods = new Map<string, { pod: RegisteredPod; tokenKeys: Set<string> }>();

  /**
   * Registers a pod and returns a new token for it. Registering a UUID again replaces its data and keeps
   * its earlier tokens valid: two `rkt run-prepared` of one pod may both register before one of them wins
   * the pod, and whichever token its apps got must work.
   */
  add(uuid: string, r: Registration): string {
    const token = randomBytes(32).toString('base64url');
    const d = digest(token);
    // The spec's pod annotations are a list: an absent one is served as [] in the manifest too, so both
    // endpoints agree.
    const manifest = { ...r.manifest, annotations: r.manifest.annotations ?? [] };
    const pod: RegisteredPod = { uuid, manifest, apps: new Map(Object.entries(r.apps)), ip: r.ip };
    const tokenKeys = this.#pods.get(uuid)?.tokenKeys ?? new Set<string>();
    tokenKeys.add(d.toString('hex'));
    this.#pods.set(uuid, { pod, tokenKeys });
    this.#tokens.set(d.toString('hex'), { uuid, digest: d });
    return token;
  }

  /** Forgets the pod and every token it was given; false when the UUID was not registered. */
  remove(uuid: string): boolean {
    const entry = this.#pods.get(uuid);
    if (entry === undefined) return false;
    for (const key of entry.tokenKeys) this.#tokens.delete(key);
    this.#pods.delete(uuid);
    return true;
  }

  byToken(token: string): RegisteredPod | undefined {
    const d = digest(token);
    const e = this.#tokens.get(d.toString('hex'));
    if (e === undefined || !timingSafeEqual(e.digest, d)) return undefined;
    return this.#pods.get(e.uuid)?.pod;
  }

  get size(): number {
    return this.#pods.size;
  }

  uuids(): string[] {
    return [...this.#pods.keys()];
  }
}
