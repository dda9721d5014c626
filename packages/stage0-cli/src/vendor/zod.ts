// dist/vendor/zod.cjs: zod bundled into one CommonJS file, for the CLI to load through a V8 code cache
// (src/vendored.ts). The workspace packages use only `z`.
export { z } from 'zod';
