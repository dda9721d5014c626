import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ImageManifestJson, PodManifestJson, Registration } from './registration.js';

export interface RegisteredPod {
  readonly uuid: string;
  readonly manifest: PodManifestJson;
  readonly apps: ReadonlyMap<string, ImageManifestJson>;
  readonly ip: string | undefined;
}

interface Entry {
  readonly pod: RegisteredPod;
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
  readonly #byDigest = new Map<string, Entry>();
  readonly #tokenDigestByUuid = new Map<string, string>();

  /** Registers a pod and returns its new token; registering a UUID again revokes its previous token. */
  add(uuid: string, r: Registration): string {
    this.remove(uuid);
    const token = randomBytes(32).toString('base64url');
    const d = digest(token);
    // The spec's pod annotations are a list: an absent one is served as [] in the manifest too, so both
    // endpoints agree.
    const manifest = { ...r.manifest, annotations: r.manifest.annotations ?? [] };
    const pod: RegisteredPod = { uuid, manifest, apps: new Map(Object.entries(r.apps)), ip: r.ip };
    this.#byDigest.set(d.toString('hex'), { pod, digest: d });
    this.#tokenDigestByUuid.set(uuid, d.toString('hex'));
    return token;
  }

  /** False when the UUID was not registered. */
  remove(uuid: string): boolean {
    const key = this.#tokenDigestByUuid.get(uuid);
    if (key === undefined) return false;
    this.#tokenDigestByUuid.delete(uuid);
    this.#byDigest.delete(key);
    return true;
  }

  byToken(token: string): RegisteredPod | undefined {
    const d = digest(token);
    const e = this.#byDigest.get(d.toString('hex'));
    if (e === undefined || !timingSafeEqual(e.digest, d)) return undefined;
    return e.pod;
  }

  get size(): number {
    return this.#byDigest.size;
  }

  uuids(): string[] {
    return [...this.#tokenDigestByUuid.keys()];
  }
}
