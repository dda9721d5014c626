import { z } from 'zod';
import { AppcError } from '../errors.js';
import { quote } from './common.js';
import { tryParseResourceQuantity, type ParsedQuantity } from './quantity-rule.js';

export { tryParseResourceQuantity, type ParsedQuantity } from './quantity-rule.js';

/** Like `tryParseResourceQuantity` but throws a `ValidationError`-compatible `AppcError` when invalid. */
export function parseResourceQuantity(input: string | number): ParsedQuantity {
  const q = tryParseResourceQuantity(input);
  if (q === undefined) {
    throw new AppcError('APPC_VALIDATION', `invalid resource quantity ${typeof input === 'string' ? quote(input) : String(input)}: ${QUANTITY_RULE}`);
  }
  return q;
}

const QUANTITY_RULE =
  'must be a non-negative quantity such as "500m", "0.3", "1G", "16Mi" or "1e3" (suffixes n u m k K M G T P E Ki Mi Gi Ti Pi Ei)';

/** A quantity as written in a manifest: a string such as `"500m"` or, as the reference accepts, a JSON number. */
export const resourceQuantitySchema = z
  .union([z.string(), z.number()], { message: 'must be a quantity string such as "500m" or "1G"' })
  .superRefine((q, ctx) => {
    if (tryParseResourceQuantity(q) === undefined) ctx.addIssue({ code: 'custom', message: QUANTITY_RULE });
  });
export type ResourceQuantity = z.infer<typeof resourceQuantitySchema>;

export function isResourceQuantity(q: unknown): q is ResourceQuantity {
  return (typeof q === 'string' || typeof q === 'number') && tryParseResourceQuantity(q) !== undefined;
}
