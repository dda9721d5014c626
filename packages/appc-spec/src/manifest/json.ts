import { isUtf8 } from 'node:buffer';
import { AppcError } from '../errors.js';

/**
 * Decodes UTF-8 strictly and parses JSON. A byte-order mark is refused, as the reference (Go) does and
 * RFC 8259 allows. Every failure, including a RangeError from pathological nesting, becomes one
 * `APPC_INVALID_JSON` error naming the source.
 */
export function parseJson(input: string | Uint8Array, source: string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    // Checked, then decoded: a strict TextDecoder does the same, but building one costs 0.2 ms of a cold
    // start (every rkt command parses a manifest). The decoding keeps a byte-order mark, refused below.
    if (!isUtf8(input)) throw new AppcError('APPC_INVALID_JSON', `${source}: not valid UTF-8`, { source });
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
  if (text.startsWith('\ufeff')) {
    throw new AppcError('APPC_INVALID_JSON', `${source}: invalid JSON: starts with a byte-order mark`, { source });
  }
  // Each level costs at least two characters, so only long texts can be too deep.
  if (text.length > 2 * MAX_DEPTH && tooDeep(text)) {
    throw new AppcError('APPC_INVALID_JSON', `${source}: invalid JSON: nested deeper than ${MAX_DEPTH} levels`, { source });
  }
  try {
    // JSON `-0` parses to -0 but serializes as 0; normalizing it keeps parse(serialize(m)) equal to m.
    // includes() first: most documents have no `-0` at all, and the pattern's first use compiles it.
    return (text.includes('-0') && NEGATIVE_ZERO_RE.test(text) ? JSON.parse(text, noNegativeZero) : JSON.parse(text)) as unknown;
  } catch (cause) {
    throw new AppcError('APPC_INVALID_JSON', `${source}: invalid JSON${describe(cause, text)}`, { source, cause });
  }
}

// Go's encoding/json (the reference) refuses documents nested deeper than this, even in ignored fields.
const MAX_DEPTH = 10_000;

function tooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

const NEGATIVE_ZERO_RE = /-0(?:\.0*)?(?:[eE][+-]?\d+)?(?![\d.eE])/;

function noNegativeZero(_key: string, value: unknown): unknown {
  return Object.is(value, -0) ? 0 : value;
}

/** V8's message quotes a snippet of the input, newlines included: keep the message to one short line. */
function describe(cause: unknown, text: string): string {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const pos = /at position (\d+)/.exec(detail);
  let where = '';
  if (pos !== null) {
    const offset = Number(pos[1]);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    where = ` at line ${line}, column ${offset - before.lastIndexOf('\n')}`;
  }
  let reason = detail
    .replace(/\s*\(line \d+ column \d+\)/, '')
    .replace(/ in JSON at position \d+/, '')
    .replace(/[\u0000-\u001f\u2028\u2029]/g, ' ');
  if (reason.length > 120) reason = `${reason.slice(0, 117)}...`;
  return `${where}: ${reason}`;
}
