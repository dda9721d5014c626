import { readFileSync } from 'node:fs';
import { APPC_SPEC_VERSION as IMPLEMENTED } from '@rkt/appc-spec';
import { describe, expect, it } from 'vitest';
import { APPC_SPEC_VERSION, RKT_TS_VERSION } from '../src/build-info.js';

describe('build info', () => {
  it("reports the appc spec version the appc-spec package implements", () => {
    // Kept as a constant so that `rkt version` need not load appc-spec (and zod) to print it.
    expect(APPC_SPEC_VERSION).toBe(IMPLEMENTED);
  });

  it("reports this package's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(RKT_TS_VERSION).toBe(pkg.version);
  });
});
