import { fs, path } from './builtins.js';
import { requireCodeCached } from './code-cache.js';

/**
 * Third-party packages the command bundles load, through a V8 code cache as the bundles themselves: Node
 * compiles a package from node_modules at every start (zod: ~80 files, 52 ms, against 16 ms from one file
 * and its cache; openpgp's one file: 50 ms, against ~35). The bundles' `require` of these goes through
 * `requireVendored` (their footer, build/lazy-builtins.cjs, asks through a global the core sets), and falls
 * back to Node's require when it gives nothing: a library embedding the packages, a missing file.
 */
const VENDORED: Readonly<Record<string, () => string>> = {
  // Built with the CLI (tsup.config.ts): zod and nothing else, in one file.
  zod: () => path.join(__dirname, 'vendor', 'zod.cjs'),
  // Already one CommonJS file in the package.
  openpgp: () => require.resolve('openpgp'),
  // Built with the CLI: the NATS client (31 files of nats-core and their dependencies), in one file.
  '@nats-io/transport-node': () => path.join(__dirname, 'vendor', 'nats.cjs'),
};

// One instance of each for the process, as Node's require gives: openpgp's classes are checked with instanceof.
const loaded = new Map<string, unknown>();

/** The module, or undefined for Node's require to load it. `requireVendored.loaded`: the ids asked for so far. */
export const requireVendored = Object.assign(load, { loaded: loaded as ReadonlyMap<string, unknown> });

function load(id: string): unknown {
  const file = VENDORED[id];
  if (file === undefined || process.sourceMapsEnabled) return undefined;
  if (loaded.has(id)) return loaded.get(id);
  let mod: unknown;
  try {
    const real = file();
    // npm gives installed files one fixed mtime, and an inode can come back with the same size: the ctime
    // tells a reinstalled file from the one the cache was made from (V8 checks only the source's length).
    const prefix = `vendor-${id}-`;
    mod = requireCodeCached(real, `${prefix}${Math.trunc(fs.statSync(real).ctimeMs)}`, { prune: { prefix, keep: 1 } });
  } catch {
    mod = undefined;
  }
  loaded.set(id, mod);
  return mod;
}

export const VENDOR_HOOK = Symbol.for('rkt-ts.vendored');
