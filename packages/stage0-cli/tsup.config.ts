import { readFileSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// The command files the table loads on demand (`load: () => import('./<name>.js')`).
const registry = readFileSync(new URL('./src/commands/registry.ts', import.meta.url), 'utf8');
const COMMAND_FILES = [...registry.matchAll(/import\('\.\/([a-z0-9-]+)\.js'\)/g)].map((m) => m[1]!);
// Commands compiled into the CommonJS core itself: they need nothing beyond it, and they are the
// ones whose whole run is start-up.
const IN_CORE = new Set(['help', 'version']);

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

export default defineConfig([
  {
    ...common,
    // The executable (main.ts keeps its shebang), its core `cli.js`, and each command under a
    // stable name (`commands/<name>.js`), which the CommonJS core below imports. Code they share
    // is split into chunks.
    entry: {
      rkt: 'src/main.ts',
      cli: 'src/cli.ts',
      ...Object.fromEntries(COMMAND_FILES.map((c) => [`commands/${c}`, `src/commands/${c}.ts`])),
    },
    splitting: true,
  },
  {
    ...common,
    // What bin/rkt loads: the start-up path (argument parsing, the command table, help, version and
    // error reporting) as one CommonJS file. Node compiles one file and never starts its ES module
    // loader for `rkt version` or `rkt help`; every other command is imported from its ES module
    // above when it runs.
    entry: { cli: 'src/cli.ts' },
    format: ['cjs'],
    // build-info reads import.meta.url only when the version was not defined at build time.
    shims: true,
    splitting: false,
    esbuildPlugins: [
      {
        name: 'commands-stay-esm',
        setup(build) {
          build.onResolve({ filter: /^\.\/[a-z0-9-]+\.js$/ }, (args) => {
            if (args.kind !== 'dynamic-import' || !args.importer.endsWith('/src/commands/registry.ts')) return undefined;
            const name = args.path.slice(2, -3);
            if (IN_CORE.has(name)) return undefined;
            return { path: `./commands/${name}.js`, external: true };
          });
        },
      },
    ],
  },
  {
    ...common,
    // The package's API, for code that embeds the CLI or reuses its conventions.
    entry: { index: 'src/index.ts' },
    splitting: false,
    dts: true,
  },
]);
