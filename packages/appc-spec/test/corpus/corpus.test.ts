import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AppcError, KNOWN_ISOLATOR_NAMES, ValidationError, parseImageManifest, parsePodManifest } from '../../src/index.js';

// Each manifest here is validated by us and by the reference `actool validate`; the verdicts must agree
// except where expectations.json names the README entry (section "Where we differ from actool") saying why.

const HERE = dirname(fileURLToPath(import.meta.url));
const ACTOOL = '/usr/bin/actool';

type Verdict = 'valid' | 'invalid';
interface Case {
  file: string;
  verdict: Verdict;
  actool?: Verdict;
  readme?: string;
  path?: string;
  rule?: string;
}
const { cases } = JSON.parse(readFileSync(join(HERE, 'expectations.json'), 'utf8')) as { cases: Case[] };

function ours(c: Case): { verdict: Verdict; error?: AppcError } {
  const bytes = readFileSync(join(HERE, c.file));
  try {
    if (c.file.startsWith('pod/')) parsePodManifest(bytes, c.file);
    else parseImageManifest(bytes, c.file);
    return { verdict: 'valid' };
  } catch (e) {
    // Anything but a typed AppcError is a bug: let it fail the test.
    if (!(e instanceof AppcError)) throw e;
    return { verdict: 'invalid', error: e };
  }
}

function actool(file: string): Promise<{ verdict: Verdict; output: string }> {
  return new Promise((resolve) => {
    execFile(ACTOOL, ['validate', '--type=manifest', file], { timeout: 10_000 }, (err, stdout, stderr) => {
      // actool exits 1 on an invalid manifest and panics (exit 2) on some, e.g. a missing acKind.
      resolve({ verdict: err === null ? 'valid' : 'invalid', output: `${stdout}${stderr}`.split('\n')[0] ?? '' });
    });
  });
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe('actool cross-check corpus', () => {
  it('lists every manifest in the folder exactly once, with at least 80 cases', () => {
    const files = ['image', 'pod'].flatMap((d) => readdirSync(join(HERE, d)).map((f) => `${d}/${f}`)).sort();
    expect(cases.map((c) => c.file).sort()).toEqual(files);
    expect(cases.length).toBeGreaterThanOrEqual(80);
    expect(cases.filter((c) => c.verdict === 'valid').length).toBeGreaterThanOrEqual(20);
    expect(cases.filter((c) => c.verdict === 'invalid').length).toBeGreaterThanOrEqual(20);
  });

  it('covers every manifest field and every known isolator with a valid case', () => {
    const paths = new Set<string>();
    const isolators = new Set<string>();
    const walk = (v: unknown, path: string): void => {
      if (Array.isArray(v)) {
        for (const x of v) walk(x, `${path}[]`);
      } else if (v !== null && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (path.endsWith('isolators[]') && typeof o.name === 'string') isolators.add(o.name);
        // Map-like objects (user annotations, sysctl, unknown isolator values) have free-form keys.
        if (/(userAnnotations|userLabels|value)$/.test(path)) return;
        for (const [k, x] of Object.entries(o)) {
          paths.add(`${path}.${k}`);
          walk(x, `${path}.${k}`);
        }
      }
    };
    for (const c of cases.filter((x) => x.verdict === 'valid')) walk(JSON.parse(readFileSync(join(HERE, c.file), 'utf8')), c.file.split('/')[0] ?? '');
    const app = ['exec', 'user', 'group', 'supplementaryGIDs', 'eventHandlers[].name', 'eventHandlers[].exec', 'workingDirectory',
      'environment[].name', 'environment[].value', 'isolators[].name', 'isolators[].value', 'mountPoints[].name', 'mountPoints[].path',
      'mountPoints[].readOnly', 'ports[].name', 'ports[].protocol', 'ports[].port', 'ports[].count', 'ports[].socketActivated',
      'userAnnotations', 'userLabels'];
    const expected = [
      ...['acKind', 'acVersion', 'name', 'labels[].name', 'labels[].value', 'pathWhitelist', 'annotations[].name', 'annotations[].value',
        'dependencies[].imageName', 'dependencies[].imageID', 'dependencies[].labels[].name', 'dependencies[].size'].map((p) => `image.${p}`),
      ...app.map((p) => `image.app.${p}`),
      ...['acVersion', 'acKind', 'apps[].name', 'apps[].image.name', 'apps[].image.id', 'apps[].image.labels[].name', 'apps[].readOnlyRootFS',
        'apps[].mounts[].volume', 'apps[].mounts[].path', 'apps[].mounts[].appVolume.kind', 'apps[].annotations[].name',
        'volumes[].name', 'volumes[].kind', 'volumes[].source', 'volumes[].readOnly', 'volumes[].recursive', 'volumes[].mode',
        'volumes[].uid', 'volumes[].gid', 'isolators[].name', 'annotations[].name', 'ports[].name', 'ports[].hostPort', 'ports[].hostIP',
        'ports[].podPort.port', 'userAnnotations', 'userLabels'].map((p) => `pod.${p}`),
      ...['exec', 'user', 'group', 'mountPoints[].name', 'isolators[].name'].map((p) => `pod.apps[].app.${p}`),
    ];
    expect(expected.filter((p) => !paths.has(p))).toEqual([]);
    expect(KNOWN_ISOLATOR_NAMES.filter((n) => !isolators.has(n))).toEqual([]);
  });

  it('gives our expected verdict, failing at the expected JSON path with the expected rule', () => {
    const wrong: string[] = [];
    for (const c of cases) {
      const r = ours(c);
      if (r.verdict !== c.verdict) wrong.push(`${c.file}: expected ${c.verdict}, got ${r.verdict}${r.error ? ` (${r.error.message})` : ''}`);
      else if (r.error instanceof ValidationError) {
        const first = r.error.issues[0];
        if (c.path !== undefined && first?.path !== c.path) wrong.push(`${c.file}: expected the first issue at "${c.path}", got: ${r.error.message}`);
        if (c.rule !== undefined && first?.rule !== c.rule) wrong.push(`${c.file}: expected the rule "${c.rule}", got: ${r.error.message}`);
      } else if (r.error !== undefined) {
        // Bad JSON: V8 words the reason, so only our part of the message is pinned.
        if (c.path !== undefined) wrong.push(`${c.file}: expected a ValidationError at "${c.path}", got: ${r.error.message}`);
        if (r.error.code !== 'APPC_INVALID_JSON' || !r.error.message.startsWith(`${c.file}: ${c.rule?.split(':')[0] ?? ''}`)) {
          wrong.push(`${c.file}: expected "${c.rule ?? ''}", got: ${r.error.message}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('documents every case where we differ from actool in the README', () => {
    const README = readFileSync(join(HERE, '../../README.md'), 'utf8');
    for (const c of cases.filter((x) => x.actool !== undefined)) {
      expect(c.actool, c.file).not.toBe(c.verdict);
      expect(README, `${c.file}: README has no anchor differs-${c.readme}`).toContain(`<a id="differs-${c.readme}"></a>`);
    }
  });

  it('agrees with `actool validate` on every case except the documented ones', { timeout: 60_000 }, async () => {
    expect(existsSync(ACTOOL), `${ACTOOL} is missing: install the Debian package appc-spec (tools/setup)`).toBe(true);
    const results = await inBatches(cases, 8, async (c) => ({ c, ref: await actool(join(HERE, c.file)) }));
    const wrong = results
      .filter(({ c, ref }) => ref.verdict !== (c.actool ?? c.verdict))
      .map(({ c, ref }) => `${c.file}: actool says ${ref.verdict}, expected ${c.actool ?? c.verdict}: ${ref.output}`);
    expect(wrong).toEqual([]);
  });
});
