#!/usr/bin/env node
// The `rkt` executable. Kept tiny: everything else is imported after the source-map decision, and
// each command's code only when that command runs.
// Go's strconv.ParseBool's true values, as rkt's flag parsing takes them (a Set: a regex's first use compiles it).
const DEBUG_ON = new Set(['--debug', '--debug=1', '--debug=t', '--debug=T', '--debug=true', '--debug=TRUE', '--debug=True']);
for (const a of process.argv.slice(2)) {
  if (a === '--') break;
  // Source-mapped stacks cost 20-30 ms a start, so they are only wanted with --debug.
  if (DEBUG_ON.has(a)) process.setSourceMapsEnabled(true);
}
export {};
const { runCli } = await import('./cli.js');
process.exitCode = await runCli(process.argv.slice(2));
