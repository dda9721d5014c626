// Shared helpers for the benchmarks: each benchmark runs its commands side by side in one
// hyperfine run, then reports medians and ratios against a named baseline.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Some machines (this project's VMs among them) export NODE_EXTRA_CA_CERTS, which makes every Node
// start-up read and parse a whole CA bundle (about 65 ms here): it would hide Node CLIs' own start-up
// cost inside a bigger `node -e 0`. Every benchmarked command starts without it; `RKT_BENCH_KEEP_ENV=1`
// keeps the environment as it is.
if (process.env.RKT_BENCH_KEEP_ENV !== '1') delete process.env.NODE_EXTRA_CA_CERTS;

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
function mountsUnder(dir) {
  const decode = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => decode(line.split(' ')[4] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * A scratch directory removed when the process exits, even on error. Pods a benchmark left running or
 * unremoved keep overlay mounts in it: detach them first, so that removing the directory never walks
 * into a mounted root filesystem and no mount outlives the benchmark.
 */
export function scratchDir(prefix = 'rkt-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cleanup = () => {
    for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130); });
  return dir;
}

/**
 * What creating an empty file costs in `dir` now, in microseconds (the median of 200, made in a directory of
 * their own that stays until `dir` is removed: removing them would slow the files made after them). On this
 * project's VMs the root filesystem is ext4 without a journal, where a new inode skips, one by one, the free
 * ones freed in about the last five minutes: 10-25 us in a quiet directory, 150-600 us where thousands of files
 * were just removed (as /tmp often is, by every test run). The benches print it beside their rows, because
 * every pod and every rendered tree pays it.
 */
export function fileCreationMicros(dir) {
  const probe = mkdtempSync(join(dir, '.file-probe-'));
  const times = [];
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    closeSync(openSync(join(probe, String(i)), 'wx'));
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[100];
}

/**
 * Waits, up to `maxSeconds`, until creating a file in `dir` costs at most `limitMicros` (fileCreationMicros),
 * saying so on stdout: a bench that starts within minutes of removing thousands of files (another bench's
 * scratch directory, a test run) would otherwise time that removal's aftermath in every row that creates files.
 * Returns the last cost measured.
 */
export function settleFileCreation(dir, { limitMicros = 50, maxSeconds = 330 } = {}) {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const us = fileCreationMicros(dir);
    if (us <= limitMicros || Date.now() >= deadline) {
      console.log(`file creation in the scratch directory: ${us.toFixed(0)} us a file${us <= limitMicros ? '' : ` (still over ${limitMicros} us after ${maxSeconds} s)`}`);
      return us;
    }
    console.log(`file creation in the scratch directory costs ${us.toFixed(0)} us a file (files were removed there recently): waiting for it to settle`);
    spawnSync('sleep', ['15']);
  }
}

/** Whether `tool` is on PATH. */
export const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/**
 * `ctr run --rm` of `rootfs` running `/bin/true`, for a bench's reference row: through the host's containerd
 * when it runs one, else through one started in `dir` for the bench (`stop()` ends it). Undefined, with a
 * line naming `bench`, when containerd is not installed or `ctr run` does not work here.
 */
export async function ctrRun(dir, rootfs, bench) {
  if (!has('ctr') || !has('containerd')) {
    console.log(`${bench}: containerd (ctr) is not installed: skipped`);
    return undefined;
  }
  let address = '/run/containerd/containerd.sock';
  let containerd;
  if (spawnSync('ctr', ['version'], { stdio: 'ignore' }).status !== 0) {
    const cdir = join(dir, 'containerd');
    address = join(cdir, 'containerd.sock');
    containerd = spawn('containerd', ['--root', join(cdir, 'root'), '--state', join(cdir, 'state'), '--address', address], { stdio: 'ignore' });
    // Not left behind by a bench that fails before it stops it.
    process.on('exit', () => containerd.kill('SIGKILL'));
    for (let i = 0; i < 100 && spawnSync('ctr', ['--address', address, 'version'], { stdio: 'ignore' }).status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stop = () => containerd?.kill('SIGTERM');
  // A container ID without `$`: a command with `$` runs through a shell, whose start-up hyperfine then
  // subtracts from every command of the run.
  const cmd = `ctr --address ${address} run --rm --rootfs ${rootfs} bench-${process.pid} /bin/true`;
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status === 0) return { cmd, stop };
  console.log(`${bench}: ctr run does not work here (${(r.stderr || '').trim().split('\n').pop()}): skipped`);
  stop();
  return undefined;
}

/**
 * Runs `commands` ({ label, cmd }) with hyperfine in one run and returns
 * [{ label, median, mean, stddev, ratio }] where ratio = median / median(baseline).
 *
 * `interleave`: hyperfine runs each command's runs back to back, so whatever the machine does during one
 * command's stretch (a VM's neighbours, writeback, timers) lands on that row alone; on this project's VMs
 * the same command moved by 20% between stretches a minute apart. Interleaved, each round runs every
 * command once (hyperfine, one run each, the same measurement), starting with the next command each round,
 * and the rows are the medians over the rounds: a drift then lands on every row alike.
 *
 * `settle` (seconds, interleaved only): a `sleep` after each command, whose time is not counted. In a round
 * each command always follows the same one, and what a command leaves behind when it exits lands on the next:
 * after a `rkt run` its Node memory is still being freed by the keeper (`@rkt/rootfs-overlay`'s execProcess),
 * and two runs of one `rkt run` in one round, one after `node -e 0` and one after another `rkt run`, measured
 * 97.0 and 122.5 ms (session 31); with a settle of 0.15 s, 91.6 and 91.3 ms.
 */
export function compare(title, commands, { baseline, runs = 20, warmup = 3, prepare, interleave = false, settle = 0 } = {}) {
  const dir = scratchDir('rkt-hyperfine-');
  const out = join(dir, 'result.json');
  const shell = commands.some((c) => /[|>&;$(]/.test(c.cmd));
  const hyperfine = (list, n, w) => {
    const args = ['--style', 'none', '--runs', String(n), '--warmup', String(w), '--export-json', out];
    if (!shell) args.push('-N');
    if (prepare) args.push('--prepare', prepare);
    for (const c of list) args.push('--command-name', c.label, c.cmd);
    execFileSync('hyperfine', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    return JSON.parse(readFileSync(out, 'utf8')).results;
  };
  let results;
  if (!interleave) results = hyperfine(commands, runs, warmup);
  else {
    const per = commands.map(() => ({ times: [], user: 0, system: 0 }));
    const pause = { label: '(settle)', cmd: `sleep ${settle}` };
    for (let round = 0; round < warmup + runs; round++) {
      const order = commands.map((_, i) => (i + round) % commands.length);
      const all = hyperfine(order.flatMap((i) => (settle > 0 ? [commands[i], pause] : [commands[i]])), 1, 0);
      const got = settle > 0 ? all.filter((_, k) => k % 2 === 0) : all;
      if (round < warmup) continue;
      got.forEach((r, k) => {
        const p = per[order[k]];
        p.times.push(r.times[0]);
        p.user += r.user / runs;
        p.system += r.system / runs;
      });
    }
    const sorted = (xs) => [...xs].sort((a, b) => a - b);
    const median = (xs) => {
      const s = sorted(xs);
      return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    results = per.map((p, i) => {
      const mean = p.times.reduce((a, b) => a + b, 0) / p.times.length;
      const stddev = Math.sqrt(p.times.reduce((a, t) => a + (t - mean) ** 2, 0) / Math.max(1, p.times.length - 1));
      return { command: commands[i].label, median: median(p.times), mean, stddev, user: p.user, system: p.system };
    });
  }
  const base = results.find((r) => r.command === (baseline ?? commands[0].label));
  const rows = results.map((r) => ({
    label: r.command,
    median: r.median,
    mean: r.mean,
    stddev: r.stddev,
    ratio: r.median / base.median,
    // Mean CPU time (user + system) of the command and its children: less disturbed than wall time
    // by other work on a loaded machine.
    cpu: r.user + r.system,
    cpuRatio: (r.user + r.system) / (base.user + base.system),
  }));
  report(title, rows, base.command);
  if (interleave) console.log(`(interleaved: ${runs} rounds, each running every command once, after ${warmup} discarded${settle > 0 ? `; each command followed by ${settle} s of settling, not counted` : ''})`);
  return rows;
}

export function report(title, rows, baselineLabel) {
  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
  console.log(`\n## ${title} (ratios against: ${baselineLabel})`);
  console.log('| command | median | ratio |');
  console.log('|---|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | ${ms(r.median)} | ${r.ratio.toFixed(2)}x |`);
  const dir = join(repoRoot, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  writeFileSync(join(dir, `${slug}.json`), JSON.stringify({ title, baseline: baselineLabel, rows, at: new Date().toISOString() }, null, 2));
}
