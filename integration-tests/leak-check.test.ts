// The tests' leak check (tools/leak-check) against real leftovers: a mount, a process and a file the run
// made are listed by path, each on its line, and nothing once they are cleaned up; and a run whose tests
// leave something behind ends with the line CI reads saying it failed.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { LeakCheck, RUN_MARKER } from '../tools/leak-check/check.js';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      // Already gone.
    }
  }
});

test('lists the mount, process and temp file a run left, by path, and nothing after they are gone', async () => {
  const check = new LeakCheck(tmpdir(), repoRoot);
  cleanups.push(() => check.close());
  expect(check.leaks().owned).toEqual([]);

  const mnt = join(check.tmpDir, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', 'leak-check-test', mnt]);
  cleanups.push(() => execFileSync('umount', [mnt]));
  const file = join(check.varTmpDir, 'left-behind');
  writeFileSync(file, '');
  // A daemon a test started: its parent exits, so it is no descendant of vitest; found by the run's marker.
  const daemon = Number(execFileSync('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8', env: { ...process.env, [RUN_MARKER]: check.tmpDir } }));
  cleanups.push(() => process.kill(daemon, 'SIGKILL'));
  await new Promise((r) => setTimeout(r, 100));

  const owned = check.leaks().owned;
  expect(owned).toContain(`mount: ${mnt}`);
  expect(owned).toContain(`temp: ${mnt}`);
  expect(owned).toContain(`temp: ${file}`);
  expect(owned.filter((l) => l.startsWith(`process ${daemon}: sleep 60`))).toHaveLength(1);
  // Still mounted: the run's dir is kept, not removed through the mount (the one below /var/tmp is removed).
  expect(check.close()).toEqual([check.tmpDir]);
  expect(existsSync(check.varTmpDir)).toBe(false);

  for (const c of cleanups.splice(0).reverse()) c();
  await new Promise((r) => setTimeout(r, 100));
  expect(check.close()).toEqual([]);
  expect(existsSync(check.tmpDir)).toBe(false);
  expect(check.leaks().owned).toEqual([]);
});

/**
 * A leak check whose run saw one pod, `ours` (its directory was under the run's dirs, then gc'd before the end
 * of the run), and never `theirs`: what each test then leaves for one or the other is attributed by UUID.
 */
function checkWithPodsOursAndTheirs(): { check: LeakCheck; ours: string; theirs: string } {
  const check = new LeakCheck(tmpdir(), repoRoot);
  cleanups.push(() => check.close());
  const ours = randomUUID();
  const theirs = randomUUID();
  mkdirSync(join(check.tmpDir, 'data', 'pods', 'run', ours), { recursive: true });
  // The pod is gone (gc'd) before the end of the run: its UUID was seen while it was there.
  check.collectUuids();
  rmSync(join(check.tmpDir, 'data'), { recursive: true });
  return { check, ours, theirs };
}

/** The CNI plugin calls' parents on this host (hybrid): at the cgroup2 mount and at the v1 freezer's, read from mountinfo. */
const callParents = readFileSync('/proc/self/mountinfo', 'utf8')
  .split('\n')
  .map((l) => l.split(' '))
  .filter((f) => f.includes('-') && (f[f.indexOf('-') + 1] === 'cgroup2' || (f[f.indexOf('-') + 1] === 'cgroup' && f[f.indexOf('-') + 3]!.split(',').includes('freezer'))))
  .map((f) => `${f[4]}/rkt-ts-cni`);

test("a pod's netns and cgroups (its CNI plugin calls' too, on both hierarchies) are the run's when the pod's directory was under the run's dirs; another pod's are only warned about", () => {
  expect(callParents).toHaveLength(2);
  const { check, ours, theirs } = checkWithPodsOursAndTheirs();
  for (const uuid of [ours, theirs]) {
    execFileSync('ip', ['netns', 'add', `rkt-${uuid}`]);
    cleanups.push(() => execFileSync('ip', ['netns', 'delete', `rkt-${uuid}`]));
    mkdirSync(`/sys/fs/cgroup/pids/rkt-${uuid}`);
    cleanups.push(() => rmdirSync(`/sys/fs/cgroup/pids/rkt-${uuid}`));
    // A CNI plugin call's, as @rkt/cni names them (the pod's UUID, the caller's pid and start time, a count),
    // on either hierarchy: cgroup2's (the calls' own) and the v1 freezer's (an earlier rkt-ts's).
    for (const parent of callParents) {
      mkdirSync(`${parent}/${uuid}.1.1.1`, { recursive: true });
      cleanups.push(() => rmdirSync(`${parent}/${uuid}.1.1.1`));
    }
  }

  const { owned, unattributed } = check.leaks();
  const calls = (uuid: string): string[] => callParents.map((p) => `cgroup: ${p}/${uuid}.1.1.1`);
  expect(owned.sort()).toEqual([...calls(ours), `cgroup: /sys/fs/cgroup/pids/rkt-${ours}`, `mount: /run/netns/rkt-${ours}`, `network namespace: /run/netns/rkt-${ours}`].sort());
  expect(unattributed).toEqual(expect.arrayContaining([...calls(theirs), `cgroup: /sys/fs/cgroup/pids/rkt-${theirs}`, `mount: /run/netns/rkt-${theirs}`, `network namespace: /run/netns/rkt-${theirs}`]));
});

test("a CNI chain (ptp's masquerading, whose comments name the pod) is the run's when its pod was; a plugin call still running is seen", async () => {
  const { check, ours, theirs } = checkWithPodsOursAndTheirs();
  // As ptp's ipMasq makes them (the lead found one such left by a slow plugin's ADD that ended after its test).
  const chains: string[] = [];
  for (const [uuid, ip] of [[ours, '10.213.199.2'], [theirs, '10.213.199.3']] as const) {
    const chain = `CNI-${randomBytes(12).toString('hex')}`;
    const comment = ['-m', 'comment', '--comment', `name: "slow" id: "${uuid}"`];
    execFileSync('iptables', ['-t', 'nat', '-N', chain]);
    cleanups.push(() => execFileSync('iptables', ['-t', 'nat', '-X', chain]));
    execFileSync('iptables', ['-t', 'nat', '-A', chain, '-d', '10.213.199.0/24', ...comment, '-j', 'ACCEPT']);
    cleanups.push(() => execFileSync('iptables', ['-t', 'nat', '-F', chain]));
    execFileSync('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', `${ip}/32`, ...comment, '-j', chain]);
    cleanups.push(() => execFileSync('iptables', ['-t', 'nat', '-D', 'POSTROUTING', '-s', `${ip}/32`, ...comment, '-j', chain]));
    chains.push(chain);
  }
  const { owned, unattributed } = check.leaks();
  expect(owned.filter((l) => l.startsWith('iptables chain: '))).toEqual([expect.stringMatching(new RegExp(`^iptables chain: nat/${chains[0]} \\(.*${ours}`))]);
  expect(unattributed.filter((l) => l.startsWith('iptables chain: '))).toEqual([expect.stringMatching(new RegExp(`^iptables chain: nat/${chains[1]} \\(.*${theirs}`))]);

  // A plugin's call left running (its environment: the run's marker and CNI_COMMAND), until it ends.
  expect(check.cniPluginsRunning()).toBe(false);
  const plugin = spawn('sleep', ['60'], { env: { ...process.env, [RUN_MARKER]: check.tmpDir, CNI_COMMAND: 'ADD', CNI_CONTAINERID: ours }, stdio: 'ignore' });
  const exited = new Promise((r) => plugin.once('exit', r));
  cleanups.push(() => plugin.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 100));
  expect(check.cniPluginsRunning()).toBe(true);
  plugin.kill('SIGKILL');
  await exited;
  expect(check.cniPluginsRunning()).toBe(false);
});

/**
 * A `vitest run` of one test file (`body`, with vitest's globals) under the root config's global setup and
 * summary reporter, in a directory of its own: its exit status and output.
 */
function nestedRun(body: string): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-nested-vitest-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'one.test.mjs'), body);
  writeFileSync(
    join(dir, 'vitest.config.mjs'),
    `export default { test: { root: ${JSON.stringify(dir)}, include: ['one.test.mjs'], globals: true, reporters: ['default', ${JSON.stringify(join(repoRoot, 'tools/vitest-summary-reporter.ts'))}], globalSetup: [${JSON.stringify(join(repoRoot, 'tools/leak-check/global-setup.ts'))}] } };\n`,
  );
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(dir, 'vitest.config.mjs')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 100_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The last line of `out` that CI takes for the run's summary (`N passed, N failed[, N skipped]` alone on its line). */
const summaryLine = (out: string): string | undefined => out.split('\n').filter((l) => /^\d+ passed, \d+ failed(, \d+ skipped)?$/.test(l)).at(-1);

test("a run whose tests pass but leave a file behind ends with a summary line counting the leak check as failed, and exits 1", () => {
  const leaky = nestedRun(`import { writeFileSync } from 'node:fs';\ntest('leaves a file', () => { writeFileSync(process.env.RKT_TEST_VAR_TMP + '/left-behind', ''); });\ntest('skipped', { skip: true }, () => {});\n`);
  expect(summaryLine(leaky.stdout), leaky.stdout + leaky.stderr).toBe('1 passed, 1 failed, 1 skipped');
  // No other summary line (one saying 0 failed) before it.
  expect(leaky.stdout.split('\n').filter((l) => / passed, \d+ failed/.test(l))).toEqual(['1 passed, 1 failed, 1 skipped']);
  expect(leaky.stderr).toMatch(/leak check: the tests left 1 thing\(s\) behind:\n {2}temp: \/var\/tmp\/rkt-run-[^/]+\/left-behind\n/);
  expect(leaky.status).toBe(1);

  const clean = nestedRun(`test('leaves nothing', () => {});\n`);
  expect(summaryLine(clean.stdout), clean.stdout + clean.stderr).toBe('1 passed, 0 failed, 0 skipped');
  expect(clean.stderr).not.toContain('leak check: the tests left');
  expect(clean.status).toBe(0);
}, 220_000);
