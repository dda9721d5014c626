// Start-up of the rkt CLI against Node's own floor (`node -e 0`): the goal is `rkt version`
// within 1.2x of it. Runs the built CLI through bin/rkt, as a user would.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compare, repoRoot } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
const dist = join(repoRoot, 'packages', 'stage0-cli', 'dist', 'rkt.js');
if (!existsSync(dist)) {
  console.error(`startup.bench: ${dist} is not built; run "npm run build" first`);
  process.exit(1);
}

const GOAL = 1.2;
const rows = compare(
  'rkt start-up',
  [
    { label: 'node -e 0', cmd: `${process.execPath} -e 0` },
    { label: 'rkt version', cmd: `${rkt} version` },
    { label: 'rkt help', cmd: `${rkt} help` },
    { label: 'node dist/rkt.js version', cmd: `${process.execPath} ${dist} version` },
  ],
  { baseline: 'node -e 0', runs: 40, warmup: 5 },
);
const version = rows.find((r) => r.label === 'rkt version');
const verdict = version.ratio <= GOAL ? 'meets' : 'misses';
console.log(`\nrkt version: ${version.ratio.toFixed(2)}x node -e 0 (${verdict} the ${GOAL}x goal)`);
