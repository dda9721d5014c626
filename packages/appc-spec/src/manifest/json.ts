import { AppcError } from '../errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 (a BOM is refused, as RFC 8259 allows) and parses JSON. Every failure, including a
 * RangeError from pathological nesting, becomes one `APPC_INVALID_JSON` error naming the source.
 */
export function parseJson(input: string | Uint8Array, source: string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = decoder.decode(input);
    } catch (cause) {
      throw new AppcError('APPC_INVALID_JSON', `${source}: not valid UTF-8`, { source, cause });
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new AppcError('APPC_INVALID_JSON', `${source}: invalid JSON: ${detail}`, { source, cause });
  }
}
