import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The UUID's 16 bytes, as rkt fed them to the HMAC. */
function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/**
 * The pod identity HMAC: HMAC-SHA512 over the pod UUID's 16 bytes followed by the content, under a key
 * the service draws at start and never reveals, so a signature proves which pod asked for it.
 */
export class PodSigner {
  readonly #key: Buffer;

  constructor(key: Buffer = randomBytes(64)) {
    this.#key = key;
  }

  sign(uuid: string, content: string): string {
    return this.#mac(uuid, content).toString('base64');
  }

  verify(uuid: string, content: string, signature: Buffer): boolean {
    const expected = this.#mac(uuid, content);
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  }

  #mac(uuid: string, content: string): Buffer {
    return createHmac('sha512', this.#key).update(uuidBytes(uuid)).update(content, 'utf8').digest();
  }
}
