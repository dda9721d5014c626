#!/usr/bin/env node
// The `rkt` executable. Kept tiny: everything else is imported after the source-map decision, and
// each command's code only when that command runs.
for (const a of process.argv.slice(2)) {
  if (a === '--') break;
  // Source-mapped stacks cost 20-30 ms a start, so they are only wanted with --debug.
  if (/^--debug(=(1|t|T|true|TRUE|True))?$/.test(a)) process.setSourceMapsEnabled(true);
}
export {};
const { runCli } = await import('./cli.js');
process.exitCode = await runCli(process.argv.slice(2));
