import { readFileSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

const common: Options = {
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  // Emitted, but Node reads them only when `--debug` turns source maps on.
  sourcemap: true,
  // `npm run build` empties dist first: two builds write there.
  clean: false,
  define: { __RKT_TS_VERSION__: JSON.stringify(pkg.version) },
};

export default defineConfig([
  {
    ...common,
    // The executable (main.ts keeps its shebang) and its core, `cli.js`, under a stable name that
    // bin/rkt imports directly; built apart from the API entry so the core is not split up with it.
    // Every command is a chunk loaded on demand.
    entry: { rkt: 'src/main.ts', cli: 'src/cli.ts' },
    splitting: true,
  },
  {
    ...common,
    // The package's API, for code that embeds the CLI or reuses its conventions.
    entry: { index: 'src/index.ts' },
    splitting: false,
    dts: true,
  },
]);
