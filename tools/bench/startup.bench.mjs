// Start-up of the rkt CLI against Node's own floor (`node -e 0`): the goal is `rkt version`
// within 1.2x of it. Runs the built CLI through bin/rkt, as a user would.
//
// Two measurements: hyperfine's (lib.mjs `compare`, each command's runs in one block), and an
// interleaved one (one run of each command per round, order rotated), whose ratios hold up better
// when other work shares the machine, since every command sees the same load.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compare, report, repoRoot } from './lib.mjs';

const rkt = join(repoRoot, 'bin', 'rkt');
const dist = join(repoRoot, 'packages', 'stage0-cli', 'dist', 'rkt.js');
if (!existsSync(dist)) {
  console.error(`startup.bench: ${dist} is not built; run "npm run build" first`);
  process.exit(1);
}

const GOAL = 1.2;
const commands = [
  { label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { label: 'rkt version', argv: [rkt, 'version'] },
  { label: 'rkt help', argv: [rkt, 'help'] },
  { label: 'node dist/rkt.js version', argv: [process.execPath, dist, 'version'] },
];
for (const c of commands) {
  const r = spawnSync(c.argv[0], c.argv.slice(1), { stdio: 'ignore' });
  if (r.status !== 0) {
    console.error(`startup.bench: ${c.argv.join(' ')} exited ${r.status}`);
    process.exit(1);
  }
}

const blocked = compare(
  'rkt start-up',
  commands.map((c) => ({ label: c.label, cmd: c.argv.join(' ') })),
  { baseline: 'node -e 0', runs: 40, warmup: 5 },
);
const interleaved = interleave('rkt start-up, interleaved', commands, { baseline: 'node -e 0', rounds: 60, warmup: 5 });

for (const [name, rows] of [['hyperfine', blocked], ['interleaved', interleaved]]) {
  const version = rows.find((r) => r.label === 'rkt version');
  const verdict = version.ratio <= GOAL ? 'meets' : 'misses';
  console.log(`${name}: rkt version ${version.ratio.toFixed(2)}x node -e 0 (${verdict} the ${GOAL}x goal)`);
}

function interleave(title, cmds, { baseline, rounds, warmup }) {
  const times = cmds.map(() => []);
  for (let round = 0; round < warmup + rounds; round++) {
    for (let k = 0; k < cmds.length; k++) {
      const i = (round + k) % cmds.length;
      const start = process.hrtime.bigint();
      spawnSync(cmds[i].argv[0], cmds[i].argv.slice(1), { stdio: 'ignore' });
      if (round >= warmup) times[i].push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  const stats = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const stddev = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    return { median: sorted[Math.floor(sorted.length / 2)], mean, stddev };
  };
  const rows = cmds.map((c, i) => ({ label: c.label, ...stats(times[i]) }));
  const base = rows.find((r) => r.label === baseline);
  for (const r of rows) r.ratio = r.median / base.median;
  report(title, rows, baseline);
  return rows;
}
