import { describe, expect, it } from 'vitest';
import { InsecureOptions, INSECURE_OPTIONS, isInsecureOption } from '../src/insecure-options.js';

describe('InsecureOptions', () => {
  it('skips nothing by default or with none', () => {
    for (const o of [new InsecureOptions(), new InsecureOptions(['none'])]) {
      expect(o.skipAny).toBe(false);
      expect(o.toString()).toBe('none');
    }
  });

  it('maps single options to their checks', () => {
    const o = new InsecureOptions(['image', 'http']);
    expect(o.skipImageCheck).toBe(true);
    expect(o.allowHttp).toBe(true);
    expect(o.skipTlsCheck).toBe(false);
    expect(o.skipOnDiskCheck).toBe(false);
    expect(o.toString()).toBe('image,http');
  });

  it('expands the groups as rkt did', () => {
    expect(new InsecureOptions(['all-fetch']).toString()).toBe('image,tls,http,pubkey');
    expect(new InsecureOptions(['all-run']).toString()).toBe('ondisk,capabilities,paths,seccomp');
    expect(new InsecureOptions(['run-all']).toString()).toBe('ondisk,capabilities,paths,seccomp');
    const all = new InsecureOptions(['all']);
    expect(all.skipAll).toBe(true);
    expect([all.skipCapabilities, all.skipPaths, all.skipSeccomp, all.considerInsecurePubKeys]).toEqual([true, true, true, true]);
    expect(new InsecureOptions(['all-fetch', 'all-run']).skipAll).toBe(true);
  });

  it('knows the valid option names', () => {
    expect(INSECURE_OPTIONS).toContain('seccomp');
    expect(isInsecureOption('tls')).toBe(true);
    expect(isInsecureOption('bogus')).toBe(false);
  });
});
