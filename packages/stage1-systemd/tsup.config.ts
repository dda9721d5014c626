import { defineConfig } from 'tsup';
import { entrypointBundles } from '../../stage1-builder/entrypoint-bundles.mjs';

export default defineConfig([
  entrypointBundles({
    run: 'src/entrypoints/run.ts',
    stop: 'src/entrypoints/stop.ts',
    gc: 'src/entrypoints/gc.ts',
    enter: 'src/entrypoints/enter.ts',
    attach: 'src/entrypoints/attach.ts',
    'app-add': 'src/entrypoints/app-add.ts',
    'app-start': 'src/entrypoints/app-start.ts',
    'app-stop': 'src/entrypoints/app-stop.ts',
    'app-rm': 'src/entrypoints/app-rm.ts',
  }),
]);
