// The start-time reader's own entry: one small function, nothing else of the package comes into the core.
import { mapFile } from '@rkt/rootfs-overlay/map-file';
import { pidRuns, processStartTime } from '@rkt/rootfs-overlay/process-start';
import { fs, path } from './builtins.js';
import { asFunctionScript } from './bundle-wrapper.js';

export interface CodeCacheOptions {
  /** After writing, keep only the newest `keep` caches whose names start with `prefix`. */
  readonly prune?: { readonly prefix: string; readonly keep: number };
  /** Write no cache from a process that ran code its typical run does not (`markAtypicalRun`). */
  readonly typicalOnly?: boolean;
}

/**
 * Loads a CommonJS file as Node's require would (module, exports, require from its own directory), through
 * a vm.Script with V8's code cache for it in `dist/.v8-cache/<name>-<size>-<mtime>-<ino>.bin`. The CLI's own
 * bundles are built as that script (`bundle-wrapper.ts`); any other file is wrapped here.
 *
 * Compiling is most of a bundle's load, and Node 20 has no compile cache of its own
 * (`module.enableCompileCache` is 22+). The cache is written at exit, when it holds every function the
 * process compiled, whenever there was none or V8 refused it (another Node); failing to read or write it
 * only costs the compile. The core loads the command bundles and stage1 modules with it; bin/rkt loads the
 * core itself the same way, inline (a require of one more file cost 1.2-1.6 ms of every start), and writes
 * the core's cache with `writeCodeCache`.
 */
export function requireCodeCached(file: string, name: string, options: CodeCacheOptions = {}): unknown {
  const st = fs.statSync(file);
  // dist/.v8-cache from the core (dist/cli.cjs) and from a command's bundle (dist/commands/*.cjs) alike.
  const cacheDir = path.join(path.basename(__dirname) === 'commands' ? path.dirname(__dirname) : __dirname, '.v8-cache');
  const cacheFile = path.join(cacheDir, `${name}-${st.size}-${st.mtimeMs}-${st.ino}.bin`);
  // A large file's text and cache are mapped rather than read (map-file.ts): a page fault per page of both,
  // and another per page of the text copied onto V8's heap, were ~3 ms of `rkt run`'s load on a VM with
  // shadowed page tables. A small one's faults cost less than loading the addon. The caches are renamed into
  // place and the bundles replaced by each build, never rewritten in place, as a mapping needs.
  const mapped = st.size >= MAPPED_MIN;
  let cachedData: Buffer | undefined;
  try {
    cachedData = (mapped ? mapFile(cacheFile, false) : undefined) ?? fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const vm = process.getBuiltinModule('vm');
  const { createRequire } = moduleClass();
  const source = (mapped ? mapFile(file, true) : undefined) ?? readSource(file);
  const script = new vm.Script(asFunctionScript(source), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    process.once('exit', () => {
      if (options.typicalOnly === true && (globalThis as Record<symbol, unknown>)[ATYPICAL] === true) return;
      writeCodeCache(cacheFile, () => script.createCachedData());
      if (options.prune !== undefined) pruneCaches(cacheDir, options.prune.prefix, options.prune.keep);
    });
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {} as unknown };
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}

/** Files from this size on are mapped (`mapFile`): the bundles of the commands that import or run pods. */
const MAPPED_MIN = 128 * 1024;

/**
 * A script's text: decoded as latin1 (a plain copy) when it is all ASCII, as the CLI's bundles are
 * (tsup.config.ts refuses any other), and as UTF-8 otherwise. UTF-8's decoding took 0.3 ms more of `rkt run`'s
 * 283 KB bundle; checking is ~20 us.
 */
export function readSource(file: string): string {
  const bytes = fs.readFileSync(file);
  return process.getBuiltinModule('buffer').isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

/**
 * Node's Module class, for `createRequire`: the main module's constructor where there is one (bin/rkt's), as
 * `process.getBuiltinModule('module')` costs 0.4 ms on a start (it loads the ES module loader).
 */
function moduleClass(): { createRequire(path: string): NodeJS.Require } {
  const main = typeof require === 'function' ? (require.main?.constructor as { createRequire?: unknown } | undefined) : undefined;
  return typeof main?.createRequire === 'function' ? (main as { createRequire(path: string): NodeJS.Require }) : process.getBuiltinModule('module');
}

// On globalThis: the core and each command bundle hold their own copy of this module.
const ATYPICAL = Symbol.for('rkt-ts.code-cache.atypical');

/**
 * Tells the code caches not yet written with `typicalOnly` (the command bundles') that this process ran code
 * a typical run of its command does not: they are then left for the next run to write. A cache holds every
 * function the process compiled, and V8 deserializes all of it on every later start: `rkt run`'s first run
 * usually imports its images (the tar reader, hashing, rendering), which made its cache 430 KB against 270 KB
 * for a run from the store.
 */
export function markAtypicalRun(): void {
  (globalThis as Record<symbol, unknown>)[ATYPICAL] = true;
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

/**
 * Writes a code cache to `file` (temp, fsync, rename); best effort. bin/rkt writes the core's with it too.
 * The temp file is `<file>.<pid>.<starttime>.tmp`, after the writer, so that a later write can tell the temp
 * of a writer killed mid-way (kill -9 at exit) from a live one's: see `removeDebris`.
 */
export function writeCodeCache(file: string, data: () => Buffer): void {
  const tmp = `${file}.${process.pid}.${processStartTime(process.pid) ?? '0'}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
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
    return;
  }
  removeDebris(file);
}

/** A cache file's name: what it caches, then the file's `-<size>-<mtime>-<inode>.bin`. */
const CACHE_NAME = /^(.+)-\d+-[\d.]+-\d+\.bin$/;
/** A cache's temp file: `<cache>.<pid>.<starttime>.tmp`, or `<cache>.<pid>.tmp` as rkt-ts wrote it before session 19. */
const TEMP_NAME = /\.bin\.(\d+)(?:\.(\d+))?\.tmp$/;

/**
 * Removes, after a write, what no start can use and nobody else would remove, with the one directory read:
 * - the caches of earlier versions of the file `file` caches (the same name before the size, mtime and
 *   inode): every build gives the file a new inode. Without this a checkout's `dist/.v8-cache` kept a cache
 *   of the core and of each command for every build (`run-` does not match `run-prepared-`: the whole name
 *   must be the same);
 * - the temp files of writers that are gone (pid and start time, or the pid alone in an older name): a kill
 *   during a write left one, and every such kill another. A live writer's is left alone.
 * Only writes do this: a start that reads a cache makes no system call for it. Best effort.
 */
function removeDebris(file: string): void {
  const name = CACHE_NAME.exec(path.basename(file))?.[1];
  const dir = path.dirname(file);
  try {
    for (const n of fs.readdirSync(dir)) {
      const temp = TEMP_NAME.exec(n);
      const debris = temp !== null ? !writerAlive(Number(temp[1]), temp[2]) : name !== undefined && n !== path.basename(file) && CACHE_NAME.exec(n)?.[1] === name;
      if (debris) fs.rmSync(path.join(dir, n), { force: true });
    }
  } catch {
    // A read-only installation, another rkt removing the same files: the next write tries again.
  }
}

/** Whether the writer of a temp file runs: the same pid with the same start time, or any process with the pid for an old name. */
function writerAlive(pid: number, start: string | undefined): boolean {
  return start !== undefined ? processStartTime(pid) === start : pidRuns(pid);
}
