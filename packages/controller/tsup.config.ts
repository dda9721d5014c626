import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// lean is the zod-free subset `rkt run` loads (see src/lean.ts).
export default defineConfig({ ...libraryBuild, entry: { index: 'src/index.ts', lean: 'src/lean.ts' } });
