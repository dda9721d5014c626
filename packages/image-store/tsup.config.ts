import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// One chunk per operation, loaded when called: see `Store`. fsutil is its own small entry (the atomic writer,
// Node built-ins and appc-spec's lean entry only): the stage1 images bundle it into their entrypoints.
export default defineConfig({ ...libraryBuild, entry: { index: 'src/index.ts', fsutil: 'src/fsutil.ts' }, splitting: true });
