import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppcError, ValidationError, parseImageManifest, parsePodManifest, serializeImageManifest, serializePodManifest } from '../../src/index.js';

const ID = `sha512-${'ab'.repeat(64)}`;

describe('spec examples', () => {
  it('parses the spec example image manifest once its placeholder image ID is filled in', () => {
    const text = readFileSync('/usr/share/doc/appc-spec/examples/image.json', 'utf8').replace('sha512-...', ID);
    const m = parseImageManifest(text, 'image.json');
    expect(m.name).toBe('example.com/reduce-worker');
    expect(m.app?.isolators?.map((i) => i.name)).toContain('resource/memory');
    expect(parseImageManifest(serializeImageManifest(m))).toEqual(m);
  });

  it('parses both spec example pod manifests and round-trips them', () => {
    for (const f of ['pod_runtime.json', 'pod_template.json']) {
      const m = parsePodManifest(readFileSync(`/usr/share/doc/appc-spec/examples/${f}`), f);
      expect(m.acKind).toBe('PodManifest');
      expect(parsePodManifest(serializePodManifest(m))).toEqual(m);
    }
  });
});

describe('errors', () => {
  it('names the source, JSON path and rule', () => {
    const bad = JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/app',
      app: { exec: ['/bin/app'], user: '0', group: '0', workingDirectory: 'relative' },
    });
    expect(() => parseImageManifest(bad)).toThrow('manifest: app.workingDirectory: must be an absolute path');
  });

  it('reports bad JSON as APPC_INVALID_JSON', () => {
    try {
      parseImageManifest('{', 'x.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AppcError);
      expect(e).not.toBeInstanceOf(ValidationError);
      expect((e as AppcError).code).toBe('APPC_INVALID_JSON');
      expect((e as AppcError).message).toMatch(/^x\.json: invalid JSON/);
    }
  });
});
