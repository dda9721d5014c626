import { describe, expect, it } from 'vitest';
import { AppcError, isAcName as fullIsAcName, parseImageManifest, getAnnotation as fullGetAnnotation } from '../src/index.js';
import { getAnnotation, isAcName, readValidatedImageManifest, ValidationError } from '../src/lean/index.js';

const manifest = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/app',
  labels: [{ name: 'version', value: '1.0' }],
  app: { exec: ['/bin/app', '--flag'], user: '0', group: '0', environment: [{ name: 'A', value: 'b' }], workingDirectory: '/srv' },
  annotations: [{ name: 'coreos.com/rkt/stage1/run', value: '/run' }],
};

function errorOf(fn: () => unknown): AppcError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppcError) return e;
    throw e;
  }
  return expect.unreachable('expected an AppcError');
}

describe('@rkt/appc-spec/lean', () => {
  it('reads a valid manifest as the full parser does', () => {
    const text = JSON.stringify(manifest);
    expect(readValidatedImageManifest(text)).toEqual(parseImageManifest(text));
    expect(readValidatedImageManifest(Buffer.from(text))).toEqual(parseImageManifest(Buffer.from(text)));
  });

  it('refuses a damaged copy with one error naming the source and the field', () => {
    const cases: [unknown, string][] = [
      [[], ''],
      [{ ...manifest, acKind: 'PodManifest' }, 'acKind'],
      [{ ...manifest, name: 7 }, 'name'],
      [{ ...manifest, app: { ...manifest.app, exec: '/bin/app' } }, 'app.exec'],
      [{ ...manifest, app: { ...manifest.app, user: undefined } }, 'app.user'],
      [{ ...manifest, app: { ...manifest.app, environment: [{ name: 'A' }] } }, 'app.environment'],
      [{ ...manifest, annotations: {} }, 'annotations'],
    ];
    for (const [doc, path] of cases) {
      const err = errorOf(() => readValidatedImageManifest(JSON.stringify(doc), '/store/x/manifest'));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.code).toBe('APPC_VALIDATION');
      expect(err.message).toContain('/store/x/manifest: ');
      expect((err as ValidationError).issues[0]?.path).toBe(path);
    }
    const torn = errorOf(() => readValidatedImageManifest('{"acKind": "Image', 'torn'));
    expect(torn.code).toBe('APPC_INVALID_JSON');
  });

  it('shares the AC Name rule and the annotation lookup with the full API', () => {
    for (const s of ['app', 'a-b', 'a1', '-a', 'a-', 'A', '', 'a_b']) expect(isAcName(s)).toBe(fullIsAcName(s));
    expect(getAnnotation(manifest.annotations, 'coreos.com/rkt/stage1/run')).toBe('/run');
    expect(fullGetAnnotation(manifest.annotations, 'none')).toBeUndefined();
  });
});
