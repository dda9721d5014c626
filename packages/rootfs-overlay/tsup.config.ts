import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// `./sys` (flock and mount through the native addon) is an entry of its own, so that the pod lock can
// use it without loading the rest of the package; so is `./process-start`, which the image store and the
// CLI's core name their temp files with, and `./map-file`, which the core loads large bundles with.
export default defineConfig({ ...libraryBuild, entry: ['src/index.ts', 'src/sys.ts', 'src/process-start.ts', 'src/map-file.ts'] });
