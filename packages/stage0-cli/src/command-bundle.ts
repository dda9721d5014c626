import { fs, path } from './builtins.js';
import type { CommandModule } from './command.js';

/**
 * Loads a command's CommonJS bundle (`dist/commands/<name>.cjs`, next to `dist/cli.cjs`), the way
 * bin/rkt runs commands, with a V8 code cache. Compiling a bundle is most of its load (about 10 ms
 * of `rkt image list`'s 120 KB and more of `rkt run`'s); with the code V8 compiled last time it only
 * deserializes. Node 20 has no compile cache of its own (`module.enableCompileCache` is 22+), so
 * this is the one vm.Script with `cachedData` for a require.
 *
 * The cache sits in `dist/.v8-cache/`, named after the bundle's size, mtime and inode (a rebuild
 * empties dist and makes new files, and V8 itself checks only the source's length), and is written
 * at exit, when it holds every function the command compiled, whenever there was none or V8
 * refused it (another Node). Failing to read or write it only costs the compile. Under --debug,
 * Node's own require runs the bundle: source-mapped stacks need it. A script compiled this way
 * cannot `import()` (Node 20 wants --experimental-vm-modules for that), so the bundles are built
 * with every `import()` of a third-party package turned into a `require` (tsup.config.ts).
 */
export function requireCommandBundle(name: string): CommandModule {
  const file = path.join(__dirname, 'commands', `${name}.cjs`);
  if (process.sourceMapsEnabled) return require(file) as CommandModule;
  return requireCodeCached(file, name) as CommandModule;
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
  const real = fs.realpathSync(file);
  return requireCodeCached(real, `${STAGE1_CACHE_PREFIX}${fnv1a(real)}-${Math.trunc(fs.statSync(real).ctimeMs)}`);
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

/**
 * Loads a CommonJS file as Node's require would (module, exports, require from its own directory), through
 * a vm.Script with V8's code cache for it in `dist/.v8-cache/<name>-<size>-<mtime>-<ino>.bin`. A first line
 * `#!...` (an executable entrypoint's) becomes a comment, as Node's loader strips it.
 */
function requireCodeCached(file: string, name: string): unknown {
  const st = fs.statSync(file);
  // dist/.v8-cache from the core (dist/cli.cjs) and from a command's bundle (dist/commands/*.cjs) alike.
  const cacheDir = path.join(path.basename(__dirname) === 'commands' ? path.dirname(__dirname) : __dirname, '.v8-cache');
  const cacheFile = path.join(cacheDir, `${name}-${st.size}-${st.mtimeMs}-${st.ino}.bin`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const vm = process.getBuiltinModule('vm');
  const { createRequire } = process.getBuiltinModule('module');
  let source = fs.readFileSync(file, 'utf8');
  if (source.startsWith('#!')) source = `//${source.slice(2)}`;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    process.once('exit', () => {
      writeCache(cacheDir, cacheFile, () => script.createCachedData());
      if (name.startsWith(STAGE1_CACHE_PREFIX)) pruneCaches(cacheDir, STAGE1_CACHE_PREFIX, STAGE1_CACHES_KEPT);
    });
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {} as unknown };
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}

/** Removes all but the `keep` newest cache files whose names start with `prefix`; best effort. */
function pruneCaches(dir: string, prefix: string, keep: number): void {
  try {
    const caches = fs
      .readdirSync(dir)
      .filter((n) => n.startsWith(prefix) && n.endsWith('.bin'))
      .map((n) => ({ path: path.join(dir, n), mtime: fs.statSync(path.join(dir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const c of caches.slice(keep)) fs.rmSync(c.path, { force: true });
  } catch {
    // Another rkt pruning at the same time, a read-only installation: the next write tries again.
  }
}

function writeCache(dir: string, file: string, data: () => Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, data());
      // A torn cache after a crash must not be found under the final name.
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch {
    // A read-only installation, a full disk: the next start compiles again.
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Nothing was written.
    }
  }
}
