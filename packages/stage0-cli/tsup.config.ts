import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname } from 'node:path';
import { defineConfig, type Options } from 'tsup';
import { BUNDLE_CLOSE, BUNDLE_OPEN } from './src/bundle-wrapper.js';
import { lazyNamespaces } from './build/lazy-namespaces.js';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// The command files the table loads on demand (`load: () => import('./<name>.js')`).
const REGISTRY = new URL('./src/commands/registry.ts', import.meta.url).pathname;
const COMMAND_FILES = [...readFileSync(REGISTRY, 'utf8').matchAll(/import\('\.\/([a-z0-9-]+)\.js'\)/g)].map((m) => m[1]!);
// Compiled into the CommonJS core itself: they need nothing else, and their whole run is start-up.
const IN_CORE = new Set(['help', 'version']);
/**
 * Lean bundles (src/lean-bundle.ts): each built with the modules its command's usual run never calls left out,
 * every dynamic import of one (they are all loaded so, where they are used) a stub that hands the run to the
 * full bundle. `rkt run` of stored images: the fetcher (and with it openpgp's and the HTTP stack's callers),
 * the store's import, render, rollback and maintenance paths, the full appc schemas (zod: a --pod-manifest, a
 * value the lean checks do not know), the metadata service and the NATS bus (refused up front by run-lean.ts).
 */
const LEAN_COMMANDS = new Set(['run-lean']);
const LEFT_OUT_OF_LEAN = /^(?:@rkt\/fetcher|@rkt\/metadata-service|@rkt\/controller\/nats|@rkt\/appc-spec|\.\/(?:import|render|rollback|remove|verify|gc|export|extract|rebuild-index)\.js)$/;
const LEAN_BUNDLE_MODULE = new URL('./src/lean-bundle.ts', import.meta.url).pathname;

// Third-party packages the workspace packages depend on stay outside the bundles (classic-level is
// native; zod and openpgp are loaded from node_modules as they are).
const packagesDir = new URL('..', import.meta.url);
const THIRD_PARTY = [
  ...new Set(
    readdirSync(packagesDir).flatMap((dir) => {
      try {
        const p = JSON.parse(readFileSync(new URL(`${dir}/package.json`, packagesDir), 'utf8')) as { dependencies?: Record<string, string> };
        return Object.keys(p.dependencies ?? {}).filter((d) => !d.startsWith('@rkt/'));
      } catch {
        return [];
      }
    }),
  ),
].map((name) => new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/|$)`));

/**
 * Node built-ins that Node's own start-up does not load (and zod, ~70 ms, whose schemas are built where used): compiling one costs 1-4 ms (`fs/promises` alone
 * about 4, with the streams, net and child_process that `rkt run`'s bundle names about 7), paid by every
 * command whose bundle merely names it. Each `require` of one becomes `$rktLz_`, which gives the module's
 * object on its first property access (and for `fs/promises`, whose first use is nearly certain, a light
 * stand-in over `fs`: build/lazy-builtins.cjs). `$rktLz_` is as long as `require`, so the source maps stay right.
 */
const LAZY_BUILTINS = ['fs/promises', 'child_process', 'os', 'stream', 'stream/promises', 'net', 'http', 'https', 'tls', 'zlib', 'crypto', 'readline', 'dgram', 'worker_threads', 'string_decoder', 'v8', 'perf_hooks', 'dns', 'module', 'zod'];
const LAZY_RE = new RegExp(`\\brequire\\("(?:node:)?(${LAZY_BUILTINS.map((b) => b.replace('/', '\\/')).join('|')})"\\)`, 'g');
// `path` becomes `$rktPt_`: Node's module with a join that skips normalising parts that are already normal
// (build/lazy-builtins.cjs says why). As long as `require` too.
const PATH_RE = /\brequire\("(?:node:)?path"\)/g;
// openpgp (what `import('openpgp')` became) and the NATS client are asked of the core first, which loads it through a code cache
// (src/vendored.ts); zod goes there through `$rktLz_`. `$rktRq_` is as long as `require` too.
const VENDOR_RE = /\brequire\("(?:openpgp|@nats-io\/transport-node)"\)/g;
// Every other built-in the bundles require becomes `$rktBm_` (as long as `require`): the footer's
// `process.getBuiltinModule`, without the loader's resolution of each call.
const EAGER_BUILTIN_RE = new RegExp(
  `\\brequire\\("(?:node:)?(${builtinModules.filter((b) => !LAZY_BUILTINS.includes(b) && b !== 'path' && !b.startsWith('_')).map((b) => b.replace('/', '\\/')).join('|')})"\\)`,
  'g',
);
const lazyBuiltins = {
  name: 'lazy-builtins',
  renderChunk(code: string, chunk: { path: string }) {
    // bin/rkt and the code-cached loader decode an all-ASCII bundle as latin1, a plain copy (UTF-8's decoding of
    // rkt run's 283 KB took 0.3 ms more), and one character outside ASCII makes V8 hold the whole source as a
    // two-byte string. esbuild escapes strings, not regular expressions.
    const wide = /[^\x00-\x7f]/.exec(code);
    if (wide !== null) {
      throw new Error(`${chunk.path}: a character outside ASCII (${JSON.stringify(code.slice(Math.max(0, wide.index - 40), wide.index + 10))}): write it as an escape`);
    }
    return {
      code: lazyNamespaces(
        code
          .replace(LAZY_RE, (whole) => `$rktLz_${whole.slice('require'.length)}`)
          .replace(PATH_RE, (whole) => `$rktPt_${whole.slice('require'.length)}`)
          .replace(VENDOR_RE, (whole) => `$rktRq_${whole.slice('require'.length)}`)
          .replace(EAGER_BUILTIN_RE, (whole) => `$rktBm_${whole.slice('require'.length)}`),
      ),
    };
  },
};
// `$rktLz_` and the light `fs/promises` it gives (see the file).
const LAZY_FOOTER = readFileSync(new URL('./build/lazy-builtins.cjs', import.meta.url), 'utf8');

const common: Options = {
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  // Emitted, but Node reads them only when `--debug` turns source maps on.
  sourcemap: true,
  // `npm run build` empties dist first: several builds write there.
  clean: false,
  define: { __RKT_TS_VERSION__: JSON.stringify(pkg.version) },
};

/**
 * What bin/rkt runs is CommonJS: one file for the start-up path and one per command, each holding
 * all of its code (this package's and the workspace packages', from source). Node then compiles a
 * file or two rather than resolving, linking and evaluating dozens of ES modules (its ES module
 * loader is never started unless a third-party ES module is imported): about 20 ms of `rkt image
 * list` and 25 ms of `rkt run`. The two copies of this package's shared code (core and command)
 * only meet through the command's context and its errors; CliError is recognised across copies.
 */
const commonjs: Options = {
  ...common,
  format: ['cjs'],
  splitting: false,
  // import.meta.url in CommonJS (the stage1 lookup, which walks up from the file to the package; the addon's
  // lookup without __dirname): `$rktMeta.url`, a getter the footer defines, computed on first use. tsup's
  // shim computed it (a URL) as each bundle loaded: 0.2-0.4 ms of every start, for code most runs never call.
  // The footer runs last, so the bundle's top-level code must not read it (it would get undefined).
  define: { ...common.define, 'import.meta.url': '$rktMeta.url' },
  noExternal: [/^@rkt\//],
  // Less text for V8 to scan on every start (a few ms of `rkt run`'s 400 KB); the source maps lead back to
  // the TypeScript under --debug. Names are not kept: esbuild's keepNames renames each function and class
  // back at load (a defineProperty for each of ~450 in `rkt run`'s bundle, 0.7 ms of its start), and the
  // error classes spell out their names.
  minify: true,
  external: THIRD_PARTY,
  // Each bundle is one function expression, as the code-cached loader compiles it (src/bundle-wrapper.ts).
  banner: { js: BUNDLE_OPEN },
  footer: { js: LAZY_FOOTER + BUNDLE_CLOSE },
  plugins: [lazyBuiltins],
  esbuildOptions(options) {
    options.conditions = ['rkt-source'];
    // `import('classic-level')` becomes a require (each third-party package has a CommonJS entry):
    // the code-cached bundles (src/command-bundle.ts) run in a vm.Script, which cannot import().
    options.supported = { ...options.supported, 'dynamic-import': false };
  },
};

export default defineConfig([
  {
    ...common,
    // The package's bin (main.ts keeps its shebang) and its core `cli.js`, as ES modules for code
    // that imports the package; every command is a chunk loaded on demand.
    entry: { rkt: 'src/main.ts', cli: 'src/cli.ts' },
    splitting: true,
  },
  {
    ...commonjs,
    entry: { cli: 'src/cli.ts' },
    esbuildPlugins: [
      {
        name: 'commands-are-required',
        setup(build) {
          // The table's `import('./<name>.js')` becomes a load of the command's own bundle.
          build.onLoad({ filter: /\/src\/commands\/registry\.ts$/ }, (args) => {
            if (args.path !== REGISTRY) return undefined;
            const table = readFileSync(REGISTRY, 'utf8').replace(/import\('\.\/([a-z0-9-]+)\.js'\)/g, (whole, name: string) =>
              IN_CORE.has(name) ? whole : `Promise.resolve().then(() => requireCommandBundle('${name}'))`,
            );
            return { contents: `import { requireCommandBundle } from '../command-bundle.js';\n${table}`, loader: 'ts' };
          });
        },
      },
    ],
  },
  {
    ...commonjs,
    entry: Object.fromEntries(COMMAND_FILES.filter((c) => !IN_CORE.has(c) && !LEAN_COMMANDS.has(c)).map((c) => [`commands/${c}`, `src/commands/${c}.ts`])),
  },
  {
    ...commonjs,
    entry: Object.fromEntries([...LEAN_COMMANDS].map((c) => [`commands/${c}`, `src/commands/${c}.ts`])),
    esbuildPlugins: [
      {
        name: 'lean-stubs',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) =>
            args.kind === 'dynamic-import' && LEFT_OUT_OF_LEAN.test(args.path) ? { path: args.path, namespace: 'left-out-of-lean' } : undefined,
          );
          build.onLoad({ filter: /.*/, namespace: 'left-out-of-lean' }, (args) => ({
            contents: `import { leanBundleMiss } from ${JSON.stringify(LEAN_BUNDLE_MODULE)};\nleanBundleMiss(${JSON.stringify(args.path)});\n`,
            loader: 'ts',
            resolveDir: dirname(LEAN_BUNDLE_MODULE),
          }));
        },
      },
    ],
  },
  {
    // zod in one file, which the core loads through a code cache (src/vendored.ts).
    ...common,
    format: ['cjs'],
    entry: { 'vendor/zod': 'src/vendor/zod.ts' },
    splitting: false,
    sourcemap: false,
    minify: true,
    noExternal: ['zod'],
    banner: { js: BUNDLE_OPEN },
    footer: { js: BUNDLE_CLOSE },
  },
  {
    // The NATS client in one file, loaded the same way when events.d names a server.
    ...common,
    format: ['cjs'],
    entry: { 'vendor/nats': 'src/vendor/nats.ts' },
    splitting: false,
    sourcemap: false,
    minify: true,
    noExternal: [/^@nats-io\//, 'tweetnacl'],
    banner: { js: BUNDLE_OPEN },
    footer: { js: BUNDLE_CLOSE },
  },
  {
    ...common,
    // The package's API, for code that embeds the CLI or reuses its conventions.
    entry: { index: 'src/index.ts' },
    splitting: false,
    dts: true,
  },
]);
