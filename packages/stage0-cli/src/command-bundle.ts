import { fs, path } from './builtins.js';
import { requireCodeCached } from './code-cache.js';
import type { CommandModule } from './command.js';

/**
 * Loads a command's CommonJS bundle (`dist/commands/<name>.cjs`, next to `dist/cli.cjs`), the way
 * bin/rkt runs commands, with a V8 code cache (`code-cache.ts`): compiling a bundle is most of its load
 * (about 10 ms of `rkt image list`'s 120 KB and more of `rkt run`'s). Under --debug, Node's own require
 * runs the bundle: source-mapped stacks need it. A script compiled this way cannot `import()` (Node 20
 * wants --experimental-vm-modules for that), so the bundles are built with every `import()` of a
 * third-party package turned into a `require` (tsup.config.ts).
 */
export function requireCommandBundle(name: string): CommandModule {
  const file = path.join(__dirname, 'commands', `${name}.cjs`);
  if (process.sourceMapsEnabled) return require(file) as CommandModule;
  return requireCodeCached(file, name, { typicalOnly: true }) as CommandModule;
}

/**
 * A stage1's entrypoint module (its run module: every `rkt run` loads it), with a V8 code cache as the
 * command bundles. The file sits in the tree store, where every file's mtime is the image's (often 0): the
 * cache is named after a hash of its real path too, and a tree's path names its content (the tree ID).
 */
export function requireStage1Module(file: string): unknown {
  if (process.sourceMapsEnabled) return require(file);
  // Through the pod's stage1/rootfs link: the tree's own path, the same for every pod of that stage1. Its
  // ctime too: a tree rendered again at the same path (after a repair) has new files, which may reuse the
  // inode number with the same size and mtime, and V8 checks only a cache's source length.
  const real = fs.realpathSync.native(file);
  return requireCodeCached(real, `${STAGE1_CACHE_PREFIX}${fnv1a(real)}-${Math.trunc(fs.statSync(real).ctimeMs)}`, {
    prune: { prefix: STAGE1_CACHE_PREFIX, keep: STAGE1_CACHES_KEPT },
  });
}

const STAGE1_CACHE_PREFIX = 'stage1-';
/** Stage1 trees come and go (image gc, other data dirs): the caches of the most recently written few stay. */
const STAGE1_CACHES_KEPT = 8;

/** FNV-1a (64-bit) of a string, in hex: a file name for a path, without loading node:crypto (~10 ms). */
function fnv1a(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
  return h.toString(16);
}
