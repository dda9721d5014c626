import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AppcError,
  parseImageManifest,
  parsePodManifest,
  serializeImageManifest,
  serializePodManifest,
  validateImageManifest,
  validatePodManifest,
} from '../src/index.js';
import type { ImageManifest, PodManifest } from '../src/index.js';

// Random mutations of valid manifests must either parse (and then round-trip exactly) or fail with a
// typed AppcError carrying a one-line message; nothing else may escape. Reproduce a failure with
// APPC_FUZZ_SEED=<seed printed in the failure> npx vitest run --project appc-spec fuzz-manifest

const HERE = dirname(fileURLToPath(import.meta.url));
const SEED = Number(process.env.APPC_FUZZ_SEED ?? 0x5eed_a99c) >>> 0;
const ITERATIONS = Number(process.env.APPC_FUZZ_ITERATIONS ?? 10_000);

/** mulberry32: small, fast and good enough to drive mutations reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

type Kind = 'image' | 'pod';
interface Base {
  kind: Kind;
  file: string;
  text: string;
}

function loadBases(): Base[] {
  const { cases } = JSON.parse(readFileSync(join(HERE, 'corpus/expectations.json'), 'utf8')) as {
    cases: { file: string; verdict: string }[];
  };
  return cases
    .filter((c) => c.verdict === 'valid')
    .map((c) => ({
      kind: c.file.startsWith('pod/') ? 'pod' : 'image',
      file: c.file,
      text: readFileSync(join(HERE, 'corpus', c.file), 'utf8'),
    }));
}

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''];
const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff',
  '😀',
  '\u202e',
  '\u200b',
  'é',
  'ǅ',
  '\n',
  'sha512-',
  '/',
  '..',
  '../../etc/passwd',
  '0',
  '-1',
  '1e309',
  'NaN',
  'true',
  'null',
  '500m',
  '1Gi',
  'CAP_SYS_ADMIN',
  'linux',
  'amd64',
  'host',
  'empty',
  'pre-start',
  'resource/memory',
  'os/unix/sysctl',
  'example.com/x',
];
const SPECIAL_NUMBERS = [0, -0, 1, -1, 0.5, 65535, 65536, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324];

function randomString(r: Rng): string {
  switch (r.int(8)) {
    case 0:
    case 5:
    case 6:
    case 7:
      return r.pick(SPECIAL_STRINGS);
    case 1:
      return 'x'.repeat(r.pick([1000, 1000, 10_000, 100_000, 1_000_000]));
    case 2:
      return String.fromCodePoint(...Array.from({ length: 1 + r.int(12) }, () => r.int(0x11_0000)).filter((c) => c < 0xd800 || c > 0xdfff));
    case 3:
      return Array.from({ length: 1 + r.int(20) }, () => String.fromCharCode(r.int(0x10000))).join('');
    default:
      return Array.from({ length: 1 + r.int(16) }, () => r.pick([...'abcXYZ019-._~/: @%'])).join('');
  }
}

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 7)) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick(SPECIAL_NUMBERS);
    case 3:
    case 4:
      return randomString(r);
    case 5:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--) setOwn(o, r.next() < 0.3 ? r.pick(SPECIAL_KEYS) : randomString(r).slice(0, 20), randomValue(r, depth + 1));
      return o;
    }
  }
}

/** Sets an own enumerable property even for `__proto__`, as JSON.parse would. */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

// JSON.stringify recurses, so trees stay shallow enough for it; deeper nesting is spliced in as text.
const DEEP = '\u0001deep\u0001';

function deepNest(r: Rng, inner: unknown): unknown {
  if (r.next() < 0.05) return DEEP;
  let v = inner;
  const levels = r.pick([10, 100, 1000]);
  const asArray = r.next() < 0.5;
  for (let i = 0; i < levels; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** Every container node of the tree, with a way to replace or delete one child. */
function containers(root: unknown): (Record<string, unknown> | unknown[])[] {
  const out: (Record<string, unknown> | unknown[])[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v !== null && typeof v === 'object') {
      out.push(v as Record<string, unknown> | unknown[]);
      for (const child of Object.values(v)) stack.push(child);
    }
  }
  return out;
}

function mutateJson(r: Rng, root: unknown): unknown {
  const nodes = containers(root);
  const rounds = 1 + r.int(3);
  for (let n = 0; n < rounds; n++) {
    const node = r.pick(nodes);
    const keys = Object.keys(node);
    const key = keys.length > 0 ? r.pick(keys) : undefined;
    const op = r.int(8);
    if (Array.isArray(node)) {
      const i = key === undefined ? 0 : Number(key);
      if (op === 0 && key !== undefined) node.splice(i, 1);
      else if (op === 1 && key !== undefined) node.push(structuredClone(node[i]));
      else if (op === 2) node.splice(i, 0, randomValue(r));
      else if (op === 3) node[i] = deepNest(r, randomValue(r));
      else node[i] = randomValue(r);
    } else {
      const o = node;
      if (op === 0 && key !== undefined) delete o[key];
      else if (op === 1) setOwn(o, r.pick(SPECIAL_KEYS), randomValue(r));
      else if (op === 2) setOwn(o, randomString(r).slice(0, 30), randomValue(r));
      else if (op === 3 && key !== undefined) o[key] = deepNest(r, o[key]);
      else if (key !== undefined) o[key] = randomValue(r);
    }
  }
  return root;
}

function mutateBytes(r: Rng, text: string): Uint8Array {
  let b = Buffer.from(text, 'utf8');
  const op = r.int(6);
  if (op === 0) {
    b = b.subarray(0, r.int(b.length));
  } else if (op === 1) {
    for (let i = 1 + r.int(8); i > 0; i--) {
      const at = r.int(b.length);
      b[at] = (b[at] as number) ^ (1 << r.int(8));
    }
  } else if (op === 2) {
    const at = r.int(b.length);
    b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + r.int(8) }, () => r.int(256))), b.subarray(at)]);
  } else if (op === 3) {
    const at = r.int(b.length);
    b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r.int(32))]);
  } else if (op === 4) {
    const at = r.int(b.length);
    const piece = Buffer.from(r.pick(['{', '}', '[', ']', ',', ':', '"', '\\', 'null', '"__proto__":{"x":1},', '1e999', '-', '\ufeff']));
    b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
  } else {
    const at = r.int(b.length);
    const len = r.int(64);
    b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
  }
  return b;
}

type Outcome = { status: 'parsed' | 'rejected' } | { status: 'bug'; error: string };

/** `exact`: the input came from JSON text, so the parsed manifest must deep-equal its own round trip. */
function check(kind: Kind, exact: boolean, run: () => ImageManifest | PodManifest): Outcome {
  let m: ImageManifest | PodManifest;
  try {
    m = run();
  } catch (e) {
    if (!(e instanceof AppcError)) return { status: 'bug', error: `untyped ${String(e instanceof Error ? e.stack : e)}` };
    if (typeof e.code !== 'string' || !e.code.startsWith('APPC_')) return { status: 'bug', error: `bad code ${String(e.code)}` };
    if (e.message.includes('\n')) return { status: 'bug', error: `multi-line message: ${JSON.stringify(e.message.slice(0, 200))}` };
    if (e.message.length > 1000) return { status: 'bug', error: `message of ${e.message.length} characters: ${e.message.slice(0, 200)}` };
    return { status: 'rejected' };
  }
  // Accepted: it must survive serialization unchanged.
  try {
    const s1 = kind === 'pod' ? serializePodManifest(m as PodManifest) : serializeImageManifest(m as ImageManifest);
    const again = kind === 'pod' ? parsePodManifest(s1) : parseImageManifest(s1);
    const s2 = kind === 'pod' ? serializePodManifest(again as PodManifest) : serializeImageManifest(again as ImageManifest);
    if (s1 !== s2) return { status: 'bug', error: 'serialize(parse(serialize(m))) differs from serialize(m)' };
    // A value handed to validate may hold what JSON cannot say (-0); text input must come back identical.
    if (exact) expect(again).toEqual(m);
  } catch (e) {
    return { status: 'bug', error: `accepted manifest does not round-trip: ${String(e instanceof Error ? e.message : e)}` };
  }
  return { status: 'parsed' };
}

describe('manifest fuzzing', () => {
  it(`feeds ${ITERATIONS} mutated manifests (seed ${SEED}) and gets a manifest or an AppcError each time`, { timeout: 60_000 }, () => {
    const bases = loadBases();
    expect(bases.length).toBeGreaterThan(20);
    const r = prng(SEED);
    const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const failures: string[] = [];
    const counts = { parsed: 0, rejected: 0, bug: 0 };
    for (let i = 0; i < ITERATIONS && failures.length < 5; i++) {
      const base = r.pick(bases);
      const parse = base.kind === 'pod' ? parsePodManifest : parseImageManifest;
      const validate = base.kind === 'pod' ? validatePodManifest : validateImageManifest;
      let outcome: Outcome;
      let what: string;
      const mode = r.int(10);
      if (mode < 4) {
        what = 'bytes';
        const bytes = mutateBytes(r, base.text);
        outcome = check(base.kind, true, () => parse(bytes, base.file));
      } else if (mode < 9) {
        what = 'json';
        const tree = mutateJson(r, JSON.parse(base.text) as unknown);
        const depth = r.pick([1000, 1000, 5000, 10_000, 100_000]);
        const text = JSON.stringify(tree).replaceAll(JSON.stringify(DEEP), `${'['.repeat(depth)}1${']'.repeat(depth)}`);
        outcome = check(base.kind, true, () => parse(text, base.file));
      } else {
        what = 'value';
        const tree = mutateJson(r, JSON.parse(base.text) as unknown);
        outcome = check(base.kind, false, () => validate(tree, base.file));
      }
      counts[outcome.status] += 1;
      if (outcome.status === 'bug') failures.push(`iteration ${i} (${what} mutation of ${base.file}): ${outcome.error}`);
    }
    expect(failures, `seed ${SEED}: rerun with APPC_FUZZ_SEED=${SEED}`).toEqual([]);
    // Both paths must be exercised: some mutants still parse (and round-trip), most are rejected.
    expect(counts.parsed, `seed ${SEED}`).toBeGreaterThan(ITERATIONS * 0.05);
    expect(counts.rejected, `seed ${SEED}`).toBeGreaterThan(ITERATIONS * 0.3);
    expect(Object.getOwnPropertyNames(Object.prototype).sort(), `seed ${SEED}: Object.prototype was modified`).toEqual(protoKeysBefore);
    expect(({} as Record<string, unknown>).x, `seed ${SEED}: Object.prototype polluted`).toBeUndefined();
  });

  it('turns hostile non-JSON values handed to validate into typed errors', () => {
    const cyclic: Record<string, unknown> = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/a' };
    cyclic.app = { user: '0', group: '0', isolators: [{ name: 'example.com/x', value: cyclic }] };
    const inputs: unknown[] = [
      undefined,
      null,
      0,
      'manifest',
      Symbol('x'),
      10n,
      () => 1,
      [],
      Object.create(null) as unknown,
      cyclic,
      { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/a', labels: [{ name: 'version', value: 10n }] },
    ];
    for (const input of inputs) {
      for (const validate of [validateImageManifest, validatePodManifest] as const) {
        expect(() => validate(input)).toThrow(AppcError);
      }
    }
  });
});
