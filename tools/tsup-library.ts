import type { Options } from 'tsup';

/**
 * The build every `@rkt/*` library shares: ESM for Node 20 with declarations, from `src/index.ts`.
 * Packages spread it and override what differs (extra entries, splitting).
 */
export const libraryBuild = {
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: false,
} satisfies Options;
