/**
 * The text around every CommonJS bundle of the CLI (tsup.config.ts puts it there; bin/rkt and
 * `requireCodeCached` recognise it by its first characters).
 *
 * Why: V8 compiles a script from one flat string. A bundle wrapped at load time (`(function (exports, ...)
 * {` + source + `})`) is a second copy of its source on the heap: for `rkt run`, 290 KB beside the 290 KB
 * read, in the young generation, which made a scavenge (0.8-1 ms) of nearly every fly run. Wrapped at build
 * time, the file as read is the script.
 *
 * The same file still works as an ordinary CommonJS module (`require` under --debug, where Node applies its
 * source map): there `this` is `module.exports` and the wrapper calls the bundle with Node's own `exports`,
 * `require`, `module`, `__filename` and `__dirname`. Compiled as a script, `this` is the global object and the
 * script's value is the bundle's function, for the loader to call with its own.
 */
export const BUNDLE_MARK = '/*rkt-ts bundle*/';

export const BUNDLE_OPEN =
  `${BUNDLE_MARK}(function (bundle) { return this === globalThis ? bundle : bundle.call(this, exports, require, module, __filename, __dirname); })` +
  '.call(this, function (exports, require, module, __filename, __dirname) {';

export const BUNDLE_CLOSE = '\n});';

/** A module's source as a script whose value is its CommonJS function: as it is when built wrapped. */
export function asFunctionScript(source: string): string {
  if (source.startsWith(BUNDLE_MARK)) return source;
  // A first line `#!...` (an executable entrypoint's) becomes a comment, as Node's loader strips it.
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  return `(function (exports, require, module, __filename, __dirname) {${body}\n})`;
}
