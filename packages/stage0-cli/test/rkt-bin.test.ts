// Runs the BUILT `bin/rkt` as a user would: a separate process, its stdout, stderr and exit status.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { Script } from 'node:vm';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_MARK, BUNDLE_OPEN } from '../src/bundle-wrapper.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(pkgDir, '..', '..');
const rktBin = join(repoRoot, 'bin', 'rkt');
// What bin/rkt loads (the ES modules are built in the same run).
const dist = join(pkgDir, 'dist', 'cli.cjs');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

beforeAll(() => {
  // `npm test` builds first; a targeted run builds here when dist is missing or older than src.
  const inputs = Math.max(
    newestSource(join(pkgDir, 'src')),
    newestSource(join(pkgDir, 'bin')),
    statSync(join(pkgDir, 'package.json')).mtimeMs,
    statSync(join(pkgDir, 'tsup.config.ts')).mtimeMs,
  );
  const stale = !existsSync(dist) || statSync(dist).mtimeMs < inputs;
  if (!stale) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: pkgDir, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 120_000);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function rkt(args: string[], cwd = repoRoot): Run {
  const r = spawnSync(rktBin, args, { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

describe('rkt version', () => {
  it("prints rkt's fields for rkt-ts and exits 0", () => {
    const r = rkt(['version']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
    const node = execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    const overlay = /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) ? '+OVERLAY' : '-OVERLAY';
    expect(lines(r.stdout)).toEqual([
      `rkt-ts Version: ${pkg.version}`,
      'appc Version: 0.8.11',
      `Node Version: ${node}`,
      `Node OS/Arch: ${process.platform}/${process.arch}`,
      `Features: -TPM ${overlay}`,
    ]);
  });
});

describe('rkt help', () => {
  it('prints the usage in rkt\'s layout for "help" and "--help"', () => {
    const help = rkt(['help']);
    const flag = rkt(['--help']);
    expect(help.status).toBe(0);
    expect(flag.status).toBe(0);
    expect(flag.stdout).toBe(help.stdout);
    const out = help.stdout;
    const headings = lines(out).filter((l) => /^[A-Z ]+:$/.test(l));
    expect(headings).toEqual(['NAME:', 'USAGE:', 'VERSION:', 'COMMANDS:', 'DESCRIPTION:', 'GLOBAL OPTIONS:']);
    expect(out).toContain('\trkt - rkt, the application container runner\n');
    expect(out).toMatch(/^\thelp\t+Help about any command$/m);
    expect(out).toMatch(/^\tversion\t+Print the version and exit$/m);
    // rkt 1.29 printed these as they are: the directories and --insecure-options are rkt's own flag types.
    for (const f of ['--debug[=false]', '--dir=/var/lib/rkt', '--insecure-options=none', '--local-config=/etc/rkt', '--system-config=/usr/lib/rkt', '--trust-keys-from-https[=false]', '--user-config=']) {
      expect(out).toContain(f);
    }
  });

  it("shows a flag whose value may be omitted with its default in brackets, as rkt 1.30's help did (not what a bare flag means)", () => {
    // rkt's help.go: `[=%q]` of the default for a string flag (status's --wait, --wait-ready), `[=%s]` for
    // other kinds (run's --net, a list whose default is empty).
    const status = rkt(['status', '--help']);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/^ {6}--wait\[="false"\]\t+toggles waiting for the pod to finish/m);
    expect(status.stdout).toMatch(/^ {6}--wait-ready\[="false"\]\t+toggles waiting until the pod is ready/m);
    expect(status.stdout).not.toContain('[="true"]');
    for (const cmd of ['run', 'run-prepared']) {
      const help = rkt([cmd, '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^ {6}--net\[=\]\t+the pod's network/m);
    }
  });

  it("quotes a Go string flag's default as rkt 1.30's help did (%q), and shows a duration's or one of rkt's own flag types' (the directories, absDir) as it is, columns kept", () => {
    const run = rkt(['run', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ {6}--pull-policy="new"\t+when to fetch an image/m);
    expect(run.stdout).toMatch(/^ {6}--uuid-file-save=""\t+write out pod UUID to specified file$/m);
    expect(run.stdout).toMatch(/^ {6}--hostname=""\t+the pod's hostname/m);
    expect(run.stdout).toMatch(/^ {6}--stage1-path=\t+a path to a stage1 image/m);
    expect(run.stdout).toMatch(/^ {6}--dir=\/var\/lib\/rkt\t+rkt data directory$/m);
    const fetch = rkt(['fetch', '--help']);
    expect(fetch.status).toBe(0);
    expect(fetch.stdout).toMatch(/^ {6}--pull-policy="update"\t+when to fetch an image/m);
    expect(rkt(['gc', '--help']).stdout).toMatch(/^ {6}--grace-period=30m0s\t+duration to wait/m);
    expect(rkt(['image', 'list', '--help']).stdout).toMatch(/^ {6}--sort=importtime\t+sort the output/m);
    expect(rkt(['list', '--help']).stdout).toMatch(/^ {6}--format=\t+choose the output format/m);
    // One tabwriter column still: with tabs every 8 columns, every option's description starts where the others' do.
    const options = run.stdout.split('\n\n').find((s) => s.startsWith('OPTIONS:'))!.split('\n').slice(1);
    const column = (line: string) => {
      const [, name, tabs] = /^([^\t]*)(\t+)/.exec(line)!;
      return (Math.floor(name!.length / 8) + tabs!.length) * 8;
    };
    expect(options.length).toBeGreaterThan(10);
    expect(new Set(options.map(column)).size).toBe(1);
  });

  it('prints one command\'s help for "help version", "version --help" and "version -h"', () => {
    const a = rkt(['help', 'version']);
    const b = rkt(['version', '--help']);
    const c = rkt(['version', '-h']);
    expect([a.status, b.status, c.status]).toEqual([0, 0, 0]);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    expect(a.stdout).toContain('NAME:\n\trkt version - Print the version and exit\n');
    expect(a.stdout).toContain('USAGE:\n\trkt version [flags]\n');
    expect(a.stdout).toContain('DESCRIPTION:\n\tPrint the version of rkt, and various build and configuration information.\n');
    expect(a.stdout).toMatch(/OPTIONS:\n  -h, --help\[=false\]\t+help for rkt version\n/);
    expect(a.stdout).toMatch(/GLOBAL OPTIONS:\n {6}--debug/);
  });
});

describe('global flags', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('are accepted before and after the command', () => {
    const before = rkt(['--debug', '--dir=/tmp/rkt-a', '--insecure-options=image,tls', 'version']);
    const after = rkt(['version', '--debug', '--dir', '/tmp/rkt-a', '--insecure-options', 'image,tls']);
    for (const r of [before, after]) {
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^rkt-ts Version: /);
      expect(lines(r.stderr)).toEqual([
        'version: dir=/tmp/rkt-a local-config=/etc/rkt system-config=/usr/lib/rkt user-config= insecure-options=image,tls trust-keys-from-https=false',
      ]);
    }
  });

  it('take --dir relative to the working directory, or absolute as given', () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-bin-test-'));
    expect(rkt(['--debug', '--dir=data', 'version'], dir).stderr).toContain(`dir=${join(dir, 'data')} `);
    expect(rkt(['--debug', '--dir=../x/./y', 'version'], dir).stderr).toContain(`dir=${join(dir, '..', 'x', 'y')} `);
    expect(rkt(['--debug', '--dir=/var/lib/other/', 'version'], dir).stderr).toContain('dir=/var/lib/other ');
    const empty = rkt(['--dir=', 'version'], dir);
    expect(empty.status).toBe(254);
    expect(empty.stderr).toBe('version: invalid value "" for --dir: "" is not a valid directory (run "rkt help version" for usage)\n');
  });

  it('need the working directory only for a relative path', () => {
    // The shell's directory is removed before rkt starts in it.
    const inGone = (args: string) => {
      const gone = mkdtempSync(join(tmpdir(), 'rkt-gone-'));
      try {
        return spawnSync('bash', ['-c', `cd "${gone}" && rmdir "${gone}" && exec "${rktBin}" ${args}`], { encoding: 'utf8' });
      } finally {
        rmSync(gone, { recursive: true, force: true });
      }
    };
    const version = inGone('version');
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^rkt-ts Version: /);
    const relative = inGone('--dir=data version');
    expect(relative.status).toBe(254);
    expect(relative.stderr).toBe('version: cannot read the working directory: ENOENT: no such file or directory, uv_cwd\n');
  });

  it('refuse a bad --insecure-options value with one line naming it, exit 254', () => {
    const r = rkt(['--insecure-options=image,bogus', 'version']);
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^version: invalid value "image,bogus" for --insecure-options: "bogus" is not a valid option; allowed values: none, image, tls, ondisk, http, pubkey, capabilities, paths, seccomp, run-all, all-fetch, all-run, all/);
  });
});

describe('errors', () => {
  it('a rkt run that fails at once, while libuv\'s thread pool is still starting, exits 254 with its one line', () => {
    // `rkt run` starts the pool from a thread of its own as it begins (@rkt/rootfs-overlay's warmThreadPool); an
    // exit during that start aborted the process (SIGABRT in CI) until the exit waited for the thread. 128
    // threads make the start long enough for these quick failures to meet it.
    const dir = mkdtempSync(join(tmpdir(), 'rkt-pool-exit-'));
    try {
      const missing = join(dir, 'missing.aci');
      for (let i = 0; i < 6; i++) {
        const r = spawnSync(rktBin, [`--dir=${dir}`, 'run', missing], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '128' } });
        expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 254, signal: null, stderr: `run: image file ${missing}: no such file\n` });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Six Node starts, each making 128 threads: seconds on a loaded machine. Nothing here is a timing claim.
  }, 60_000);

  it('an unknown command is one line and 254', () => {
    const r = rkt(['bogus']);
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('rkt: unknown command "bogus" for "rkt" (run "rkt help" for usage)\n');
  });

  it('an unknown flag is one line and 254', () => {
    const r = rkt(['version', '--bogus']);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe('version: unknown flag: --bogus (run "rkt help version" for usage)\n');
    const early = rkt(['--bogus', 'version']);
    expect(early.status).toBe(254);
    expect(lines(early.stderr)).toEqual(['version: unknown flag: --bogus (run "rkt help version" for usage)']);
  });

  it('--debug adds the stack, source-mapped to the TypeScript source', () => {
    const plain = rkt(['--insecure-options=bogus', 'version']);
    const debug = rkt(['--debug', '--insecure-options=bogus', 'version']);
    expect(debug.status).toBe(254);
    expect(lines(plain.stderr)).toHaveLength(1);
    const debugLines = lines(debug.stderr);
    expect(debugLines[0]).toBe(lines(plain.stderr)[0]);
    expect(debugLines[1]).toMatch(/^CliError: invalid value "bogus" for --insecure-options/);
    expect(debug.stderr).toMatch(/\n {4}at .*packages\/stage0-cli\/src\/argv\/parse\.ts:\d+:\d+/);
  });

  it('leaves quietly with 141 when the reader of its output goes away, as rkt killed by SIGPIPE', () => {
    // The reader closes its end of the pipe before rkt starts: a FIFO holds rkt back until it has. (`rkt help |
    // true` raced: under load `true` had not exited yet when rkt wrote its help, which then fit in the pipe's
    // buffer, and rkt exited 0.)
    const dir = mkdtempSync(join(tmpdir(), 'rkt-sigpipe-'));
    try {
      execFileSync('mkfifo', [join(dir, 'go')]);
      const script = '{ read -r _ < go; exec "$0" help; } | { exec 0<&-; echo > go; }; echo "${PIPESTATUS[0]}"';
      const r = spawnSync('bash', ['-c', script, rktBin], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      expect(r.stdout).toBe('141\n');
      expect(r.stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failure to write its output in one line, exit 254', () => {
    const r = spawnSync('bash', ['-c', `"${rktBin}" version > /dev/full`], { encoding: 'utf8' });
    expect(r.status).toBe(254);
    expect(r.stderr).toBe('rkt: cannot write the output: ENOSPC: no space left on device, write\n');
  });

  it('no command prints the usage and one line, exit 2 as rkt', () => {
    const r = rkt([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('COMMANDS:');
    expect(r.stderr).toBe('rkt: missing command (run "rkt help" for usage)\n');
  });
});

describe('command bundles', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  // The core (dist/cli.cjs, loaded by bin/rkt) and a command's bundle alike, read (the small ones) or mapped
  // (128 KB and more: `image list`'s), each with the command that loads it on an empty data dir.
  const BUNDLES: [string, string, string[]][] = [
    ['cli', 'cli.cjs', ['list']],
    ['list', 'commands/list.cjs', ['list']],
    ['image-list', 'commands/image-list.cjs', ['image', 'list']],
  ];
  const cacheDir = join(pkgDir, 'dist', '.v8-cache');
  /** The cache a bundle's current build is loaded from. */
  const cacheOf = (name: string, file: string): string => {
    const st = statSync(join(pkgDir, 'dist', file));
    return join(cacheDir, `${name}-${st.size}-${st.mtimeMs}-${st.ino}.bin`);
  };

  it.each(BUNDLES)('run from a V8 code cache they write once (%s); a damaged cache is only compiled again', (name, file, command) => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const cache = cacheOf(name, file);
    const list = () => rkt([`--dir=${dir}`, ...command, '--format=json']);
    rmSync(cache, { force: true });
    const first = list();
    expect(first).toEqual({ status: 0, stdout: '[]\n', stderr: '' });
    expect(statSync(cache).size).toBeGreaterThan(1000);
    // V8 took it: the next run writes no cache (a refused one is written again, through a temp file beside it).
    // Traced, as other tests' rkt processes may write this cache meanwhile.
    const trace = join(dir, 'trace');
    const again = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', trace, '--', rktBin, `--dir=${dir}`, ...command, '--format=json'], { cwd: repoRoot, encoding: 'utf8' });
    expect({ status: again.status, stdout: again.stdout, stderr: again.stderr }).toEqual(first);
    expect(readFileSync(trace, 'utf8')).toContain(basename(cache));
    expect(readFileSync(trace, 'utf8')).not.toContain(`${basename(cache)}.`);
    for (const damage of [Buffer.alloc(0), Buffer.alloc(5000, 0x5a)]) {
      // Put in place as rkt writes its caches, by a rename: other tests' rkt processes may have this cache
      // mapped (a large bundle's, @rkt/rootfs-overlay's mapFile), and a rewrite in place would change it under them.
      writeFileSync(`${cache}.damage`, damage);
      renameSync(`${cache}.damage`, cache);
      expect(list()).toEqual(first);
      // Written again, whole.
      expect(statSync(cache).size).toBeGreaterThan(1000);
    }
    // No temporary files of the writes are left.
    expect(readdirSync(cacheDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it.each(BUNDLES)('remove the caches of earlier builds of the same file when they write one (%s), and only those', (name, file, command) => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const cache = cacheOf(name, file);
    // What earlier builds left: the same name with another size, mtime and inode; and names that only begin alike.
    const stale = [`${name}-1-1795961341348.9172-5325267.bin`, `${name}-245448-1795961344300-5325396.bin`];
    const others = [`${name}-prepared-71545-1795961792332.9438-5325772.bin`, `x${name}-1-2-3.bin`];
    for (const f of [...stale, ...others]) writeFileSync(join(cacheDir, f), 'old');
    try {
      rmSync(cache, { force: true });
      expect(rkt([`--dir=${dir}`, ...command, '--format=json'])).toEqual({ status: 0, stdout: '[]\n', stderr: '' });
      expect(statSync(cache).size).toBeGreaterThan(1000);
      const left = readdirSync(cacheDir);
      for (const f of stale) expect(left).not.toContain(f);
      for (const f of others) expect(left).toContain(f);
    } finally {
      for (const f of [...stale, ...others]) rmSync(join(cacheDir, f), { force: true });
    }
  });

  it.each(BUNDLES)('remove the temp files of cache writers that were killed when they write one (%s), and not a live writer\'s', (name, file, command) => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const cache = cacheOf(name, file);
    const startTime = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.split(' ')[19] as string;
    const dead = spawnSync('true').pid as number;
    // A writer killed mid-write, named as rkt-ts did before (pid only) and as now (pid and start time, here
    // a pid that another process, this one, has since); and the temp files of writers still at work.
    const stale = [`${basename(cache)}.${dead}.tmp`, `${name}-1-2-3.bin.${dead}.${startTime(process.pid)}.tmp`, `${name}-1-2-3.bin.${process.pid}.${Number(startTime(process.pid)) - 1}.tmp`];
    const live = [`${name}-1-2-3.bin.${process.pid}.tmp`, `${basename(cache)}.${process.pid}.${startTime(process.pid)}.tmp`];
    for (const f of [...stale, ...live]) writeFileSync(join(cacheDir, f), 'torn');
    try {
      rmSync(cache, { force: true });
      expect(rkt([`--dir=${dir}`, ...command, '--format=json'])).toEqual({ status: 0, stdout: '[]\n', stderr: '' });
      expect(statSync(cache).size).toBeGreaterThan(1000);
      const left = readdirSync(cacheDir);
      for (const f of stale) expect(left).not.toContain(f);
      for (const f of live) expect(left).toContain(f);
    } finally {
      for (const f of [...stale, ...live]) rmSync(join(cacheDir, f), { force: true });
    }
  });

  it('bin/rkt is the launcher the build writes: bin/rkt.cjs started by the Node that built it, without env', () => {
    // `#!/usr/bin/env -S node ...` cost every start an exec of env (its locale files, a PATH search).
    const launcher = readFileSync(join(pkgDir, 'dist', 'rkt.cjs'), 'utf8').split('\n');
    const portable = readFileSync(join(pkgDir, 'bin', 'rkt.cjs'), 'utf8').split('\n');
    expect(launcher[0]).toBe(`#!${process.execPath} --single-threaded-gc`);
    expect(launcher.slice(1)).toEqual(portable.slice(1));
    expect(statSync(join(pkgDir, 'dist', 'rkt.cjs')).mode & 0o111).toBe(0o111);
    // As a user starts it, through the symlink: Node runs it as CommonJS (the `.cjs` name), from dist.
    const r = spawnSync(rktBin, ['version'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^rkt-ts Version: /);
    expect(r.status).toBe(0);
  });

  it("are run with Node flags that keep Node's own code cache for its built-in modules", () => {
    // V8 refuses a code cache made under another flag hash; Node's cache for its modules is made under the
    // defaults. --profile-deserialization (not part of the hash) reports each refusal.
    const flags = readFileSync(join(pkgDir, 'bin', 'rkt.cjs'), 'utf8').split('\n')[0]!.replace(/^#!\/usr\/bin\/env -S node ?/, '').split(' ').filter((f) => f !== '');
    expect(flags).toContain('--single-threaded-gc');
    const load = (extra: string[]) => spawnSync(process.execPath, [...flags, ...extra, '--profile-deserialization', '-e', "require('child_process'); require('zlib'); require('https')"], { encoding: 'utf8' });
    const ours = load([]);
    expect(ours.status).toBe(0);
    expect(ours.stdout + ours.stderr).toContain('Deserializing');
    expect(ours.stdout + ours.stderr).not.toContain('Cached code failed check');
    // The check can fail: a flag in the hash makes V8 refuse them all.
    const other = load(['--no-minor-gc-task']);
    expect(other.stdout + other.stderr).toContain('Cached code failed check');
  });

  it('load zod and openpgp from code caches of their own, one instance of each', () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const cacheDir = join(pkgDir, 'dist', '.v8-cache');
    const vendorCaches = (id: string) => (existsSync(cacheDir) ? readdirSync(cacheDir).filter((n) => n.startsWith(`vendor-${id}-`)) : []);
    for (const id of ['zod', 'openpgp']) for (const n of vendorCaches(id)) rmSync(join(cacheDir, n), { force: true });
    // A pod manifest is checked with zod's schemas; a key is read with openpgp.
    const manifest = join(dir, 'pod.json');
    writeFileSync(manifest, JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: 'none' }));
    const key = join(dir, 'key.asc');
    writeFileSync(key, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n');
    const prepare = () => rkt([`--dir=${dir}`, 'prepare', `--pod-manifest=${manifest}`]);
    const trust = () => rkt([`--dir=${dir}`, `--local-config=${dir}`, 'trust', '--root', '--skip-fingerprint-review', key]);
    const [p1, t1] = [prepare(), trust()];
    expect(p1.status).toBe(254);
    expect(p1.stderr).toMatch(/apps/);
    expect(t1.status).toBe(254);
    expect(t1.stderr).toContain(key);
    expect(vendorCaches('zod')).toHaveLength(1);
    expect(vendorCaches('openpgp')).toHaveLength(1);
    // From the caches, the same answers.
    expect([prepare(), trust()]).toEqual([p1, t1]);
    // Asked for twice, the same module (openpgp's classes are checked with instanceof); anything else is
    // left to Node's require.
    const out = execFileSync(process.execPath, ['-e', `const c = require(${JSON.stringify(dist)});
      const o = c.requireVendored('openpgp'), z = c.requireVendored('zod');
      process.stdout.write(JSON.stringify([o === c.requireVendored('openpgp'), typeof o.readKey, z === c.requireVendored('zod'), typeof z.z.object, c.requireVendored('left-pad') === undefined]));`], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([true, 'function', true, 'function', true]);
    // Five Node starts, two of them compiling zod and openpgp from source: seconds on a loaded 2-core machine,
    // beyond vitest's default 5 s (two helpers' runs at load 6-11 timed out). Nothing here is a timing claim.
  }, 30_000);

  it('are built as the script the code-cached loader compiles, and still load with require', () => {
    // bin/rkt recognises the core by the same mark (it cannot import the TypeScript).
    expect(readFileSync(join(pkgDir, 'bin', 'rkt.cjs'), 'utf8')).toContain(`source.startsWith('${BUNDLE_MARK}')`);
    for (const file of ['cli.cjs', 'commands/run.cjs', 'commands/list.cjs', 'vendor/zod.cjs']) {
      const text = readFileSync(join(pkgDir, 'dist', file), 'utf8');
      expect(text.startsWith(BUNDLE_OPEN), file).toBe(true);
      // As a script, its value is the module's function; as a module (under --debug), it runs as one.
      const fn: unknown = new Script(text, { filename: join(pkgDir, 'dist', file) }).runInThisContext();
      expect(typeof fn, file).toBe('function');
    }
    const asModule = execFileSync(process.execPath, ['-p', `Object.keys(require(${JSON.stringify(join(pkgDir, 'dist', 'vendor', 'zod.cjs'))}))`], { encoding: 'utf8' });
    expect(asModule.trim()).toBe('[ \'z\' ]');
  });

  it('are all ASCII, and a module that is not is still read as UTF-8', () => {
    // ASCII is decoded as latin1, a plain copy (src/code-cache.ts's readSource); the build refuses anything else.
    const bundles = ['cli.cjs', ...readdirSync(join(pkgDir, 'dist', 'commands')).filter((f) => f.endsWith('.cjs')).map((f) => `commands/${f}`)];
    expect(bundles.length).toBeGreaterThan(20);
    for (const file of bundles) expect(/[^\x00-\x7f]/.test(readFileSync(join(pkgDir, 'dist', file), 'latin1')), file).toBe(false);
    // A module of someone else's (a stage1's, a vendored package's) with characters outside ASCII.
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const mod = join(dir, 'wide.cjs');
    writeFileSync(mod, "module.exports = ['\u00b5s caf\u00e9', /\u00b5/.test('\u00b5'), 'µs café'];\n");
    const out = execFileSync(process.execPath, ['-e', `const c = require(${JSON.stringify(dist)}); process.stdout.write(JSON.stringify(c.requireCodeCached(${JSON.stringify(mod)}, 'test-wide')));`], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(['µs café', true, 'µs café']);
    for (const f of readdirSync(join(pkgDir, 'dist', '.v8-cache')).filter((n) => n.startsWith('test-wide-'))) rmSync(join(pkgDir, 'dist', '.v8-cache', f));
  });

  it("leave a command's cache to the next run when this one failed in the command", () => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const st = statSync(join(pkgDir, 'dist', 'commands', 'image-list.cjs'));
    const cache = join(pkgDir, 'dist', '.v8-cache', `image-list-${st.size}-${st.mtimeMs}-${st.ino}.bin`);
    rmSync(cache, { force: true });
    // Refused by the command's own code, once its bundle is loaded.
    const bad = rkt([`--dir=${dir}`, 'image', 'list', '--fields=bogus']);
    expect(bad.status).toBe(254);
    expect(bad.stderr).toContain('unknown field "bogus"');
    expect(existsSync(cache)).toBe(false);
    expect(rkt([`--dir=${dir}`, 'image', 'list']).status).toBe(0);
    expect(statSync(cache).size).toBeGreaterThan(1000);
  });

  it('leave a typical-only cache to the next run when this one ran atypical code (markAtypicalRun)', () => {
    // A module of its own (its cache is named after its size, mtime and inode), loaded through the built
    // core's requireCodeCached in a process of its own: caches are written at exit.
    dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
    const mod = join(dir, 'mod.cjs');
    writeFileSync(mod, `module.exports = { twice: (n) => n * 2, dir: __dirname, req: typeof require('./other.cjs') };\n`);
    writeFileSync(join(dir, 'other.cjs'), 'module.exports = 1;\n');
    const st = statSync(mod);
    const cache = join(pkgDir, 'dist', '.v8-cache', `test-mod-${st.size}-${st.mtimeMs}-${st.ino}.bin`);
    const load = (atypical: boolean, typicalOnly = true) =>
      execFileSync(
        process.execPath,
        [
          '-e',
          `const c = require(${JSON.stringify(join(pkgDir, 'dist', 'cli.cjs'))});
           ${atypical ? 'c.markAtypicalRun();' : ''}
           const m = c.requireCodeCached(${JSON.stringify(mod)}, 'test-mod', { typicalOnly: ${typicalOnly} });
           process.stdout.write(JSON.stringify([m.twice(21), m.dir, m.req]));`,
        ],
        { encoding: 'utf8' },
      );
    try {
      expect(JSON.parse(load(true))).toEqual([42, dir, 'number']);
      expect(existsSync(cache)).toBe(false);
      expect(JSON.parse(load(false))).toEqual([42, dir, 'number']);
      expect(statSync(cache).size).toBeGreaterThan(0);
      // A cache not asked to be typical only (the core's, a stage1 module's) is written by any run.
      rmSync(cache);
      expect(JSON.parse(load(true, false))).toEqual([42, dir, 'number']);
      expect(statSync(cache).size).toBeGreaterThan(0);
    } finally {
      rmSync(cache, { force: true });
    }
  });
});

describe("the package's own bin, dist/rkt.js", () => {
  it('behaves as bin/rkt, source-mapped stacks under --debug included', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [join(pkgDir, 'dist', 'rkt.js'), ...args], { encoding: 'utf8' });
    const version = run(['version']);
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(rkt(['version']).stdout);
    const debug = run(['--debug', '--insecure-options=bogus', 'version']);
    expect(debug.status).toBe(254);
    expect(debug.stderr).toMatch(/\n {4}at .*packages\/stage0-cli\/src\/argv\/parse\.ts:\d+:\d+/);
  });
});

describe('bin wrappers', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('bin/appc runs the appc-spec package\'s built CLI', () => {
    const appcDist = join(repoRoot, 'packages', 'appc-spec', 'dist', 'cli', 'appc.js');
    if (!existsSync(appcDist)) execFileSync('npm', ['run', 'build'], { cwd: join(repoRoot, 'packages', 'appc-spec'), stdio: 'ignore' });
    const r = spawnSync(join(repoRoot, 'bin', 'appc'), ['--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: appc /);
    const bad = spawnSync(join(repoRoot, 'bin', 'appc'), ['bogus-command'], { encoding: 'utf8' });
    expect(bad.status).toBe(254);
    expect(bad.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  }, 120_000);

  it('say clearly when the CLI they run is not built', () => {
    // A copy of the wrappers in a tree without packages/*/dist.
    dir = mkdtempSync(join(tmpdir(), 'rkt-bin-wrapper-'));
    mkdirSync(join(dir, 'bin'));
    // bin/appc is an ES module without an extension: the repository's package.json says "type": "module".
    copyFileSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(repoRoot, 'bin', 'appc'), join(dir, 'bin', 'appc'));
    // bin/rkt is a symlink to the launcher the build writes (dist/rkt.cjs): in a tree not built there is none,
    // and the portable launcher the package keeps, bin/rkt.cjs, is what says so.
    expect(readlinkSync(rktBin)).toBe('../packages/stage0-cli/dist/rkt.cjs');
    mkdirSync(join(dir, 'packages', 'stage0-cli', 'bin'), { recursive: true });
    copyFileSync(join(pkgDir, 'bin', 'rkt.cjs'), join(dir, 'packages', 'stage0-cli', 'bin', 'rkt.cjs'));
    symlinkSync('../packages/stage0-cli/bin/rkt.cjs', join(dir, 'bin', 'rkt'));
    const notBuilt = (name: string, rel: string) => {
      const r = spawnSync(join(dir!, 'bin', name), ['version'], { encoding: 'utf8' });
      expect(r.status).toBe(254);
      expect(r.stderr).toBe(`${name}: ${join(dir!, rel)} is not built; run "npm run build" at the repository root (see README.md)\n`);
    };
    notBuilt('rkt', 'packages/stage0-cli/dist/cli.cjs');
    notBuilt('appc', 'packages/appc-spec/dist/cli/appc.js');
    // Half a dist: the command bundles without the core.
    mkdirSync(join(dir, 'packages', 'stage0-cli', 'dist', 'commands'), { recursive: true });
    notBuilt('rkt', 'packages/stage0-cli/dist/cli.cjs');
  });
});
