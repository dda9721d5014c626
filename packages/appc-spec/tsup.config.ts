import { defineConfig } from 'tsup';
import type { Options } from 'tsup';

const common: Options = {
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  // Emitted, but Node reads them only when `appc --debug` turns source maps on.
  sourcemap: true,
  // Two builds write to dist: `npm run build` empties it first instead.
  clean: false,
};

export default defineConfig([
  {
    ...common,
    // The package's API, and its zod-free subset for documents validated before (`@rkt/appc-spec/lean`,
    // which `rkt run` loads instead). Split, so both share one copy of the error classes.
    entry: { index: 'src/index.ts', lean: 'src/lean/index.ts' },
    splitting: true,
    dts: true,
  },
  {
    ...common,
    // The executable: a tiny entry (its shebang kept by esbuild) and one chunk per command, loaded on demand.
    entry: { 'cli/appc': 'src/cli/appc.ts' },
    splitting: true,
    esbuildOptions(options) {
      options.chunkNames = 'cli/chunks/[name]-[hash]';
    },
  },
]);
