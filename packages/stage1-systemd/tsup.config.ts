import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Entrypoints go into the stage1 image, which must not depend on anything outside it but Node:
    // every dependency is bundled in, each entrypoint one file.
    entry: {
      run: 'src/entrypoints/run.ts',
      stop: 'src/entrypoints/stop.ts',
      gc: 'src/entrypoints/gc.ts',
      enter: 'src/entrypoints/enter.ts',
    },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    noExternal: [/.*/],
    banner: { js: '#!/usr/bin/env node' },
    splitting: false,
    clean: false,
  },
]);
