import { fs } from './builtins.js';

// Replaced by tsup's `define` at build time; undefined when the source runs directly (tests).
declare const __RKT_TS_VERSION__: string | undefined;

/** This package's version, read from its package.json when it was built. */
export const RKT_TS_VERSION: string =
  typeof __RKT_TS_VERSION__ === 'string' ? __RKT_TS_VERSION__ : packageVersion();

/**
 * The App Container spec version rkt-ts implements (rkt printed appc's `schema.AppContainerVersion`).
 * @rkt/appc-spec exports the same constant; importing it would load zod on every `rkt version`, so
 * test/build-info.test.ts keeps the two equal instead.
 */
export const APPC_SPEC_VERSION = '0.8.11';

function packageVersion(): string {
  // Both src/ and dist/ sit next to the package's package.json.
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
