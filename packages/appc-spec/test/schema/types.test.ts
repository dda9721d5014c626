import { describe, expect, it } from 'vitest';
import {
  acVersionSchema,
  compareSemVer,
  environmentVariableSchema,
  formatJsonPath,
  imageIdFromHex,
  isAcIdentifier,
  isAcName,
  isAcVersion,
  isImageId,
  isTimestamp,
  isUuid,
  labelsSchema,
  parseSemVer,
} from '../../src/index.js';

describe('AC Identifier and AC Name', () => {
  it('accepts the spec examples and rejects bad edges, characters and case', () => {
    for (const s of ['database', 'example.com/database', 'example.com/~user/app_v1', 'sub-domain.example.com/org/product/release', 'a', '0']) {
      expect(isAcIdentifier(s), s).toBe(true);
    }
    for (const s of ['', 'Example.com', '-a', 'a-', 'a/', '/a', 'a b', 'a:b', 'é', 'a\n']) expect(isAcIdentifier(s), s).toBe(false);
    for (const s of ['database', 'product-database-release', 'my--app', '9']) expect(isAcName(s), s).toBe(true);
    for (const s of ['', 'my_app', 'a.b', 'a/b', '-a', 'a-', 'A']) expect(isAcName(s), s).toBe(false);
    expect(isAcIdentifier(42)).toBe(false);
  });

  it('stays fast on a huge almost-valid identifier', () => {
    const s = `${'a-'.repeat(500_000)}-`;
    const t0 = performance.now();
    expect(isAcIdentifier(s)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe('AC Version', () => {
  it('parses SemVer and orders pre-releases below releases', () => {
    expect(parseSemVer('0.8.11-rc.1+build.5')).toEqual({ major: 0, minor: 8, patch: 11, prerelease: ['rc', '1'], build: 'build.5' });
    expect(parseSemVer('v0.8.11')).toBeUndefined();
    expect(parseSemVer('01.2.3')).toBeUndefined();
    const v = (s: string) => parseSemVer(s) ?? expect.unreachable(s);
    expect(compareSemVer(v('0.8.11-rc1'), v('0.8.11'))).toBeLessThan(0);
    expect(compareSemVer(v('0.8.11-alpha.2'), v('0.8.11-alpha.10'))).toBeLessThan(0);
    expect(compareSemVer(v('0.8.11-alpha'), v('0.8.11-alpha.1'))).toBeLessThan(0);
    expect(compareSemVer(v('0.8.11-1'), v('0.8.11-a'))).toBeLessThan(0);
    expect(compareSemVer(v('0.8.11+a'), v('0.8.11+b'))).toBe(0);
  });

  it('accepts 0.x up to the implemented 0.8.11 only', () => {
    for (const s of ['0.8.11', '0.1.0', '0.8.11-rc1', '0.8.10']) expect(isAcVersion(s), s).toBe(true);
    for (const s of ['0.8.12', '0.9.0', '1.0.0', 'x', '']) expect(isAcVersion(s), s).toBe(false);
    const r = acVersionSchema.safeParse('1.0.0');
    expect(r.error?.issues[0]?.message).toMatch(/unsupported AC Version "1\.0\.0"/);
  });
});

describe('image IDs, timestamps, UUIDs', () => {
  it('requires sha512 and the full lowercase hex digest', () => {
    const hex = 'ab'.repeat(64);
    expect(isImageId(`sha512-${hex}`)).toBe(true);
    expect(imageIdFromHex(hex.toUpperCase())).toBe(`sha512-${hex}`);
    expect(isImageId(`sha512-${hex.slice(2)}`)).toBe(false);
    expect(isImageId(`sha512-${hex.toUpperCase()}`)).toBe(false);
    expect(isImageId(`sha256-${hex}`)).toBe(false);
    expect(() => imageIdFromHex('xyz')).toThrow(TypeError);
  });

  it('checks RFC 3339 date-time fields the way Go time.Parse does', () => {
    for (const s of ['2015-05-18T13:49:28.351729952-04:00', '2014-10-27T19:32:27Z', '2016-02-29T23:59:59+14:00', '0000-02-29T00:00:00Z', '2000-02-29T00:00:00Z']) {
      expect(isTimestamp(s), s).toBe(true);
    }
    for (const s of ['2015-05-18 13:49:28Z', '2015-02-29T00:00:00Z', '2015-01-01T24:00:00Z', '2015-01-01t00:00:00z', '2015-13-01T00:00:00Z', '2015-01-01T00:00:00+25:00', '1900-02-29T00:00:00Z', '2015-04-31T00:00:00Z', 'yesterday']) {
      expect(isTimestamp(s), s).toBe(false);
    }
  });

  it('recognizes canonical lowercase UUIDs', () => {
    expect(isUuid('6733c4c3-a5fb-4b44-9e48-1ac3b8a7e1a3')).toBe(true);
    expect(isUuid('6733C4C3-A5FB-4B44-9E48-1AC3B8A7E1A3')).toBe(false);
    expect(isUuid('6733c4c3a5fb4b449e481ac3b8a7e1a3')).toBe(false);
  });
});

describe('labels and environment', () => {
  it('checks os/arch pairs against the reference list and names the failing entry', () => {
    expect(labelsSchema.safeParse([{ name: 'os', value: 'linux' }, { name: 'arch', value: 'ppc64le' }]).success).toBe(true);
    const bad = labelsSchema.safeParse([{ name: 'arch', value: 'arm64' }, { name: 'os', value: 'linux' }]);
    expect(bad.error?.issues.map((i) => [i.path, i.message])).toEqual([[[0, 'value'], expect.stringMatching(/unsupported arch "arm64" for os linux/)]]);
  });

  it('accepts POSIX names plus "." and "-"', () => {
    expect(environmentVariableSchema.safeParse({ name: '_a.b-C9', value: '' }).success).toBe(true);
    expect(environmentVariableSchema.safeParse({ name: '9a', value: '' }).success).toBe(false);
    expect(environmentVariableSchema.safeParse({ name: 'A=B', value: '' }).success).toBe(false);
  });
});

describe('formatJsonPath', () => {
  it('writes dotted paths with indexes and quotes keys that are not identifiers', () => {
    expect(formatJsonPath(['app', 'isolators', 2, 'value', 'limit'])).toBe('app.isolators[2].value.limit');
    expect(formatJsonPath(['userAnnotations', 'a b'])).toBe('userAnnotations["a b"]');
    expect(formatJsonPath([])).toBe('');
  });
});
