import { describe, expect, it } from 'vitest';
import {
  AppcError,
  ValidationError,
  isReifiedPodManifest,
  parseImageManifest,
  parsePodManifest,
  serializeImageManifest,
  serializePodManifest,
  validateImageManifest,
  validatePodManifest,
} from '../../src/index.js';
import type { ImageManifest, PodManifest } from '../../src/index.js';
import { parseJson } from '../../src/manifest/json.js';

const ID = `sha512-${'cd'.repeat(64)}`;

function errorOf(fn: () => unknown): AppcError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppcError) return e;
    throw e;
  }
  return expect.unreachable('expected an AppcError');
}

describe('image manifest serialization', () => {
  it('writes keys in spec order whatever order they were built in, leaving absent fields out', () => {
    const m = {
      annotations: [{ value: 'x', name: 'authors' }],
      app: { group: '0', user: '0', exec: ['/bin/app'], workingDirectory: undefined },
      name: 'example.com/app',
      acVersion: '0.8.11',
      acKind: 'ImageManifest',
    } as unknown as ImageManifest;
    expect(serializeImageManifest(m)).toBe(
      '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","app":{"exec":["/bin/app"],"user":"0","group":"0"},"annotations":[{"name":"authors","value":"x"}]}',
    );
    expect(serializeImageManifest(m, { pretty: true })).toMatch(/^\{\n {2}"acKind": "ImageManifest",\n/);
  });

  it('round-trips: parse(serialize(m)) equals m and serialize(parse(s)) is a fixed point', () => {
    const text = JSON.stringify({
      name: 'example.com/app',
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      labels: [{ name: 'os', value: 'linux' }],
      app: { user: 'u', group: 'g', ports: [{ protocol: 'tcp', port: 80, name: 'http', count: 2 }], userLabels: { z: '1', a: '2' } },
      pathWhitelist: ['/bin/app'],
    });
    const m = parseImageManifest(text);
    const s = serializeImageManifest(m);
    expect(parseImageManifest(s)).toEqual(m);
    expect(serializeImageManifest(parseImageManifest(s))).toBe(s);
    expect(s.indexOf('"labels"')).toBeLessThan(s.indexOf('"app"'));
    expect(s).toContain('"ports":[{"name":"http","protocol":"tcp","port":80,"count":2}]');
  });

  it('drops unknown keys and reads null optional fields as absent, as the reference does', () => {
    const m = parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","labels":null,"app":null,"vendor":{"x":1}}');
    expect(m).toEqual({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'a' });
    expect(Object.keys(m)).toEqual(['acKind', 'acVersion', 'name']);
  });

  it('refuses keys that differ from a field only in case, which Go tools would read as that field', () => {
    const e = errorOf(() =>
      parseImageManifest(
        '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0","group":"0","isolators":[{"name":"example.com/x","Value":1,"value":2}]}}',
      ),
    ) as ValidationError;
    expect(e.message).toBe('manifest: app.isolators[0].Value: keys are case-sensitive: "Value" is not "value"');
    const ok = parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0","group":"0","userLabels":{"USER":"x"}}}');
    expect(ok.app?.userLabels).toEqual({ USER: 'x' });
  });

  it('normalizes JSON -0 so it round-trips', () => {
    const m = parseImageManifest(
      '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0","group":"0","isolators":[{"name":"example.com/x","value":[-0,-0.0,-0e3,-0.5]}]}}',
    );
    expect(m.app?.isolators?.[0]?.value).toEqual([0, 0, 0, -0.5]);
    expect(Object.is((m.app?.isolators?.[0]?.value as number[])[0], 0)).toBe(true);
    expect(parseImageManifest(serializeImageManifest(m))).toEqual(m);
  });

  it('keeps a __proto__ user annotation as data without touching any prototype', () => {
    const m = parseImageManifest(
      '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0","group":"0","userAnnotations":{"__proto__":"x","constructor":"y"}},"__proto__":{"polluted":true}}',
    );
    const ua = m.app?.userAnnotations ?? {};
    expect(Object.getPrototypeOf(ua)).toBe(Object.prototype);
    expect(Object.keys(ua)).toEqual(['__proto__', 'constructor']);
    expect(serializeImageManifest(m)).toContain('"userAnnotations":{"__proto__":"x","constructor":"y"}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((m as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses to serialize an invalid manifest', () => {
    const m = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'Bad Name' } as ImageManifest;
    expect(() => serializeImageManifest(m)).toThrow(ValidationError);
  });
});

describe('image manifest errors', () => {
  it('uses one line: source, JSON path, rule, and a count of further issues', () => {
    const e = errorOf(() =>
      parseImageManifest(
        JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', app: { exec: 'run', user: 5 } }),
        '/var/lib/rkt/cas/x/manifest',
      ),
    ) as ValidationError;
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toBe('/var/lib/rkt/cas/x/manifest: app.exec: must be an array of strings (and 2 more)');
    expect(e.issues).toEqual([
      { path: 'app.exec', rule: 'must be an array of strings' },
      { path: 'app.user', rule: 'must be a string' },
      { path: 'app.group', rule: 'is required' },
    ]);
    expect(e.source).toBe('/var/lib/rkt/cas/x/manifest');
  });

  it('reports the kind first, and a non-object document', () => {
    const pod = JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [] });
    expect(() => parseImageManifest(pod)).toThrow('manifest: acKind: must be "ImageManifest", got "PodManifest"');
    expect(() => parseImageManifest('{"acVersion":"0.8.11"}')).toThrow('manifest: acKind: is required (must be "ImageManifest")');
    expect(() => parseImageManifest('[1]')).toThrow('manifest: must be a JSON object (an ImageManifest)');
    expect(() => validateImageManifest(undefined)).toThrow(ValidationError);
  });

  it('refuses exactly the byte strings a strict UTF-8 decoder refuses', () => {
    // Short strings of bytes around UTF-8's boundaries: overlong forms, surrogates, values past U+10FFFF,
    // truncated and stray continuation bytes, inside a JSON string.
    const bytes = [0x22, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f];
    const strict = new TextDecoder('utf-8', { fatal: true });
    let seed = 7;
    for (let i = 0; i < 20000; i++) {
      const body: number[] = [];
      for (let n = 1 + (i % 5); n > 0; n--) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        body.push(bytes[Math.floor((seed / 2 ** 31) * bytes.length)]!);
      }
      const doc = new Uint8Array([0x22, ...body, 0x22]);
      let valid = true;
      try {
        strict.decode(doc);
      } catch {
        valid = false;
      }
      const err = (() => {
        try {
          parseJson(doc, 'm');
          return undefined;
        } catch (e) {
          return (e as Error).message;
        }
      })();
      expect([body, err === 'm: not valid UTF-8']).toEqual([body, !valid]);
    }
  });

  it('reports bad bytes and bad JSON on one line with the position', () => {
    const bad = errorOf(() => parseImageManifest(new Uint8Array([0x7b, 0xff, 0x7d]), 'm'));
    expect(bad.code).toBe('APPC_INVALID_JSON');
    expect(bad.message).toBe('m: not valid UTF-8');
    const json = errorOf(() => parseImageManifest('{\n  "acKind": "ImageManifest",\n  oops\n}', 'm'));
    expect(json.code).toBe('APPC_INVALID_JSON');
    expect(json.message).toMatch(/^m: invalid JSON at line 3, column 3: /);
    expect(json.message).not.toContain('\n');
    expect(errorOf(() => parseImageManifest('', 'm')).message).toMatch(/^m: invalid JSON: Unexpected end of JSON input$/);
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"}')]);
    expect(errorOf(() => parseImageManifest(withBom, 'm')).message).toBe('m: invalid JSON: starts with a byte-order mark');
    expect(errorOf(() => parseImageManifest(withBom.toString('utf8'), 'm')).code).toBe('APPC_INVALID_JSON');
  });

  it('refuses nesting deeper than 10000 levels, even in ignored fields, as Go tools do', () => {
    const nested = (levels: number) =>
      `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","x":${'['.repeat(levels - 1)}"[[{"${']'.repeat(levels - 1)}}`;
    expect(parseImageManifest(nested(10_000)).name).toBe('a');
    expect(errorOf(() => parseImageManifest(nested(10_001), 'm')).message).toBe('m: invalid JSON: nested deeper than 10000 levels');
  });
});

describe('pod manifests', () => {
  const pod = (extra: Record<string, unknown>) => JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'a', image: { id: ID } }], ...extra });

  it('parses host and empty volumes, discriminated by kind', () => {
    const m = parsePodManifest(
      pod({
        volumes: [
          { name: 'data', kind: 'host', source: '/srv/data', readOnly: true, recursive: false },
          { name: 'scratch', kind: 'empty', mode: '0700', uid: 1000, gid: 1000 },
        ],
      }),
    );
    const [host, empty] = m.volumes ?? [];
    expect(host?.kind === 'host' && host.source).toBe('/srv/data');
    expect(empty?.kind === 'empty' && empty.mode).toBe('0700');
    expect(parsePodManifest(serializePodManifest(m))).toEqual(m);
  });

  it('names the volume field that breaks a kind rule', () => {
    expect(() => parsePodManifest(pod({ volumes: [{ name: 'v', kind: 'host', source: '/x', uid: 0 }] }), 'pod')).toThrow(
      'pod: volumes[0].uid: cannot be set for a host volume',
    );
    expect(() => parsePodManifest(pod({ volumes: [{ name: 'v', kind: 'nfs' }] }), 'pod')).toThrow(/^pod: volumes\[0\]\.kind: /);
    expect(() => parsePodManifest(pod({ volumes: [{ name: 'v' }] }), 'pod')).toThrow(/^pod: volumes\[0\]\.kind: /);
  });

  it('tells templates from reified manifests', () => {
    const reified = parsePodManifest(pod({}));
    expect(isReifiedPodManifest(reified)).toBe(true);
    const template = parsePodManifest(pod({ apps: [{ name: 'a', image: { name: 'example.com/a', labels: [{ name: 'version', value: 'latest' }] } }] }));
    expect(isReifiedPodManifest(template)).toBe(false);
    expect(() => parsePodManifest(pod({ apps: [{ name: 'a', image: {} }] }), 'pod')).toThrow('pod: apps[0].image.id: must have an id, or a name to resolve it from');
  });

  it('serializes in pods.md order and validates what it writes', () => {
    const m = {
      ports: [{ hostPort: 8080, name: 'http' }],
      apps: [{ image: { id: ID }, name: 'a' }],
      acKind: 'PodManifest',
      acVersion: '0.8.11',
    } as PodManifest;
    expect(serializePodManifest(m)).toBe(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a","image":{"id":"${ID}"}}],"ports":[{"name":"http","hostPort":8080}]}`);
    expect(() => validatePodManifest({ ...m, apps: [m.apps[0], m.apps[0]] }, 'pod')).toThrow('pod: apps[1].name: duplicate app name "a"');
  });
});
