import { defineConfig } from 'tsup';
import { entrypointBundles } from '../../stage1-builder/entrypoint-bundles.mjs';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: false,
    splitting: false,
  },
  // The run entrypoint is C (native/fly-run.c, compiled by the build script).
  entrypointBundles({
    stop: 'src/entrypoints/stop.ts',
    gc: 'src/entrypoints/gc.ts',
    enter: 'src/entrypoints/enter.ts',
  }),
]);
