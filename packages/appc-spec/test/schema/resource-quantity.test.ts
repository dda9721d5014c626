import { describe, expect, it } from 'vitest';
import { AppcError, isResourceQuantity, parseResourceQuantity, tryParseResourceQuantity } from '../../src/index.js';

describe('resource quantities', () => {
  it('parses the suffixes ace.md lists into exact milli-units, a number and a canonical string', () => {
    expect(parseResourceQuantity('500m')).toEqual({ milli: 500n, value: 0.5, canonical: '500m' });
    expect(parseResourceQuantity('1G')).toEqual({ milli: 1_000_000_000_000n, value: 1e9, canonical: '1G' });
    expect(parseResourceQuantity('16Mi')).toEqual({ milli: 16_777_216_000n, value: 16_777_216, canonical: '16Mi' });
    expect(parseResourceQuantity('1K').value).toBe(1000);
    expect(parseResourceQuantity('1k').value).toBe(1000);
    expect(parseResourceQuantity('2Ei').canonical).toBe('2Ei');
    expect(parseResourceQuantity('1E').milli).toBe(10n ** 21n);
    expect(parseResourceQuantity('0.3')).toMatchObject({ value: 0.3, canonical: '300m' });
    expect(parseResourceQuantity('1e3')).toMatchObject({ value: 1000, canonical: '1k' });
    expect(parseResourceQuantity('+5').value).toBe(5);
    expect(parseResourceQuantity(1048576)).toMatchObject({ value: 1048576, canonical: '1048576' });
    expect(parseResourceQuantity('0').canonical).toBe('0');
  });

  it('gives one value for the spec example spellings of the same amount', () => {
    const a = parseResourceQuantity('128974848');
    const b = parseResourceQuantity('125952Ki');
    const c = parseResourceQuantity('123Mi');
    expect(a.milli).toBe(b.milli);
    expect(b.milli).toBe(c.milli);
    expect(c.canonical).toBe('123Mi');
    expect(parseResourceQuantity('1.5Gi').canonical).toBe('1536Mi');
  });

  it('rounds amounts finer than a milli-unit up', () => {
    expect(parseResourceQuantity('0.0001').milli).toBe(1n);
    expect(parseResourceQuantity('1n').milli).toBe(1n);
    expect(parseResourceQuantity('1500u')).toMatchObject({ milli: 2n, canonical: '2m' });
  });

  it('rejects garbage, negatives, unknown suffixes and absurd sizes', () => {
    for (const q of ['', 'abc', '-1', '1 G', '1g', '1KiB', '1.2.3', '.', '1e', 'e3', '1e999', '9'.repeat(50), '1Mi2', -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(tryParseResourceQuantity(q), String(q)).toBeUndefined();
      expect(isResourceQuantity(q)).toBe(false);
    }
    expect(() => parseResourceQuantity('lots')).toThrow(AppcError);
    expect(() => parseResourceQuantity('lots')).toThrow(/invalid resource quantity "lots"/);
  });
});
