import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// stage1-abi is its own small entry (Node built-ins only): the stage1 images bundle it into their entrypoints.
// nats is the NATS event bus, apart so that only its users load the client (~55 ms).
// lean is the zod-free subset `rkt run` loads (see src/lean.ts).
export default defineConfig({ ...libraryBuild, entry: { index: 'src/index.ts', lean: 'src/lean.ts', 'stage1-abi': 'src/stage1-abi/index.ts', nats: 'src/nats-bus.ts' } });
