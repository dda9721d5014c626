// The tsup options of a stage1's Node entrypoints, shared by every flavor (packages/stage1-*/tsup.config.ts).
//
// An entrypoint goes into the stage1 image, which must not depend on anything outside it but Node: each
// is one file holding all of its code. It is CommonJS, minified (names kept for errors and stacks): every
// pod start pays for loading it, and an ES module costs Node its ES module loader (about 7 ms), and in an
// extensionless file (`/rkt/run`) a CommonJS parse that fails before the ES module one (module syntax
// detection); build-stage1.mjs puts a package.json of type commonjs beside them so that no enclosing
// package.json can say otherwise.

/** @param {Record<string, string>} entry rootfs-independent names (`run`, `stop`...) -> their source files */
export function entrypointBundles(entry) {
  return {
    entry,
    format: ['cjs'],
    outExtension: () => ({ js: '.cjs' }),
    target: 'node20',
    platform: 'node',
    noExternal: [/.*/],
    minify: true,
    keepNames: true,
    banner: { js: '#!/usr/bin/env node' },
    // import.meta.url in CommonJS, from the file's own path: shared code (rootfs-overlay's addon lookup) names
    // it where __dirname is missing, and esbuild warns of an empty import.meta otherwise.
    shims: true,
    splitting: false,
    clean: false,
  };
}
