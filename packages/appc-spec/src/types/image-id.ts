import { z } from 'zod';
import { quote } from './common.js';

// types.md: "hash-value", sha512 only, value the hex digest. A full SHA-512 digest is 128 hex digits;
// actool accepts any text after "sha512-" (see README, "Where we differ").
const IMAGE_ID_RE = /^sha512-[0-9a-f]{128}$/;

export const imageIdSchema = z
  .string({ message: 'must be a string' })
  .regex(IMAGE_ID_RE, { message: 'must be an image ID: "sha512-" followed by 128 lowercase hex digits' });
export type ImageId = z.infer<typeof imageIdSchema>;

export function isImageId(s: unknown): s is ImageId {
  return typeof s === 'string' && IMAGE_ID_RE.test(s);
}

/** The image ID of a SHA-512 digest given as hex (e.g. from `createHash('sha512').digest('hex')`). */
export function imageIdFromHex(hex: string): ImageId {
  const id = `sha512-${hex.toLowerCase()}`;
  if (!IMAGE_ID_RE.test(id)) throw new TypeError(`not a SHA-512 hex digest: ${quote(hex)}`);
  return id;
}
