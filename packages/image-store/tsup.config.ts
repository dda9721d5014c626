import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// One chunk per operation, loaded when called: see `Store`.
export default defineConfig({ ...libraryBuild, splitting: true });
