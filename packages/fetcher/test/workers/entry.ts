// What a worker process needs, bundled from source (Node 20 cannot load the TypeScript).
export { fetchImage } from '../../src/index.js';
export { openStore } from '@rkt/image-store';
