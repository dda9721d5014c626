#!/usr/bin/env -S node --single-threaded-gc
// What the repository's bin/rkt runs (as dist/rkt.cjs: this file under a shebang that names the Node that
// built it, build/write-launcher.mjs): the built CLI core, dist/cli.cjs, in this process. Both are CommonJS because Node starts its ES module loader for the first ES module
// it meets, about 7 ms of every start (bin/rkt as an ES module, even one importing nothing else,
// paid it); commands that need more load their ES modules on demand. Node resolves the symlink
// before loading, so the `.cjs` name decides the format despite the repository's "type": "module".
// --single-threaded-gc: V8's parallel GC threads cost `rkt fetch` of a 316 MB image ~0.6 s of CPU on 2
// cores (49 marking cycles) and ~0.45 s of wall time, side by side; start-up commands measured the same.
// Only a command-line flag: NODE_OPTIONS refuses it, and setting it at run time crashed V8.
// No flag that changes V8's flag hash: Node's built-in modules come with a code cache made under the default
// flags, and V8 refuses it under any other hash (`--no-minor-gc-task`, session 10's, did: `rkt fetch` then
// compiled 163 of Node's modules from source, ~55 ms before its image began to stream;
// test/rkt-bin.test.ts checks these flags). --single-threaded-gc is not part of the hash.
'use strict';
// Go's strconv.ParseBool's true values, as rkt's flag parsing takes them (a Set: a regex's first use compiles it).
const DEBUG_ON = new Set(['--debug', '--debug=1', '--debug=t', '--debug=T', '--debug=true', '--debug=TRUE', '--debug=True']);
for (const a of process.argv.slice(2)) {
  if (a === '--') break;
  // Source-mapped stacks cost 20-30 ms a start, so they are only wanted with --debug.
  if (DEBUG_ON.has(a)) process.setSourceMapsEnabled(true);
}
// Built-ins without require's module machinery (Node 20.16+; the core says so on an older Node).
const builtin = process.getBuiltinModule ?? require;
const fs = builtin('fs');
const dist = builtin('path').join(__dirname, '..', 'dist');
const path = `${dist}/cli.cjs`;
let cli;
try {
  if (process.sourceMapsEnabled) {
    cli = require(path);
  } else {
    // The core through a V8 code cache, as the core loads the command bundles (src/code-cache.ts), inline:
    // compiling the core took 3-5 ms of every start, and a require of one more file 1.2-1.6 ms.
    const st = fs.statSync(path);
    const cacheFile = `${dist}/.v8-cache/cli-${st.size}-${st.mtimeMs}-${st.ino}.bin`;
    let cachedData;
    try {
      cachedData = fs.readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
    // Decoded as latin1 (a plain copy) when it is all ASCII, as the build keeps it (src/code-cache.ts's readSource).
    const bytes = fs.readFileSync(path);
    const source = builtin('buffer').isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
    // Built as the function expression compiled here (src/bundle-wrapper.ts: a second, wrapped copy of the
    // source cost a young-generation GC); a build from before that is wrapped as Node would.
    const text = source.startsWith('/*rkt-ts bundle*/') ? source : `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
    const script = new (builtin('vm').Script)(text, { filename: path, cachedData });
    const mod = { exports: {} };
    script.runInThisContext().call(mod.exports, mod.exports, module.constructor.createRequire(path), mod, path, dist);
    cli = mod.exports;
    if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => cli.writeCodeCache(cacheFile, () => script.createCachedData()));
  }
} catch (err) {
  const missing = err !== null && typeof err === 'object' && (err.code === 'MODULE_NOT_FOUND' || err.code === 'ENOENT') && String(err.message).includes(path);
  if (!missing) throw err;
  process.stderr.write(`rkt: ${path} is not built; run "npm run build" at the repository root (see README.md)\n`);
  process.exit(254);
}
cli.runCli(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});
