import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mountsUnder, unmountTree } from '../src/index.js';
import { createConnection, createServer } from 'node:net';
import { flock, listenUnix, mount, MNT_DETACH, openPty, pipe, ptyResize, spawnProcess, umount } from '../src/sys.js';
import { useTempDirs } from './helpers.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

const tmp = useTempDirs();
const openDir = (path: string): number => openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);

describe('flock through the addon', () => {
  it('gives the lock to one open file description at a time, and frees it when the holder closes', async () => {
    const dir = await tmp.make();
    const first = openDir(dir);
    const second = openDir(dir);
    try {
      expect(flock(first, { exclusive: true, nonblocking: true })).toBe(true);
      expect(flock(second, { exclusive: true, nonblocking: true })).toBe(false);
      // What another program sees: util-linux flock cannot take it either (exit 1) while it is held here.
      expect(spawnSync('flock', ['--exclusive', '--nonblock', dir, 'true']).status).toBe(1);
      closeSync(first);
      expect(flock(second, { exclusive: true, nonblocking: true })).toBe(true);
    } finally {
      closeSync(second);
      try {
        closeSync(first);
      } catch {
        // Closed above.
      }
    }
  });

  it('throws the errno as code for a handle that is not open', () => {
    expect(() => flock(987_654, { exclusive: true, nonblocking: true })).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('mount through the addon', () => {
  it('mounts what mount(2) is given, seen in mountinfo', async () => {
    const dir = await tmp.make();
    const target = join(dir, 'm');
    mkdirSync(target);
    mount('tmpfs', target, 'tmpfs', 0, 'size=1m,mode=0700');
    const mounts = await mountsUnder(dir);
    expect(mounts.map((m) => [m.mountPoint, m.fsType])).toEqual([[target, 'tmpfs']]);
    await unmountTree(dir);
  });

  it('throws the errno as code, naming the target', async () => {
    const dir = await tmp.make();
    expect(() => mount('none', join(dir, 'missing'), 'tmpfs', 0, null)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: `mount ${join(dir, 'missing')}: No such file or directory` }),
    );
    expect(() => mount('none', dir, 'no-such-filesystem-type', 0, null)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
  });

  it('refuses a path with a NUL byte rather than mounting on a shorter path', async () => {
    const dir = await tmp.make();
    expect(() => mount('tmpfs', `${dir}\0/x`, 'tmpfs', 0, null)).toThrow(TypeError);
    expect(await mountsUnder(dir)).toEqual([]);
  });
});

describe('spawn and wait through the addon', () => {
  it('runs a process with the given argv, env, cwd and fds, and resolves with its exit status', async () => {
    const dir = await tmp.make();
    const out = join(dir, 'out');
    const fd = openSync(out, 'w');
    try {
      const p = spawnProcess({
        file: '/bin/sh',
        argv: ['sh', '-c', 'echo "$0 $X $(pwd)" >&3; exit 7', 'arg0'],
        env: { X: 'x-value', PATH: '/usr/bin:/bin' },
        cwd: dir,
        fds: [0, 1, 2, fd],
      });
      expect(p.pid).toBeGreaterThan(1);
      expect(await p.exited).toEqual({ status: 7 });
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(out, 'utf8')).toBe(`arg0 x-value ${dir}\n`);
  });

  it('gives the child default signal actions (Node ignores SIGPIPE) and reports a death by signal as 128 + its number', async () => {
    // SIGPIPE's disposition as the child got it: a shell cannot trap a signal ignored on entry, so `trap`
    // lists nothing for PIPE when it was inherited ignored; with the default action `kill -PIPE $$` kills it.
    const p = spawnProcess({ file: 'sh', argv: ['sh', '-c', 'kill -PIPE $$; exit 0'], fds: [0, 1, 2] });
    expect(await p.exited).toEqual({ status: 128 + 13, signal: 13 });
  });

  it('maps descriptors in any order: the child gets this process\'s second file as fd 3 and its first as fd 4', async () => {
    const dir = await tmp.make();
    const a = openSync(join(dir, 'a'), 'w');
    const b = openSync(join(dir, 'b'), 'w');
    try {
      const p = spawnProcess({ file: 'sh', argv: ['sh', '-c', 'echo three >&3; echo four >&4'], fds: [0, 1, 2, b, a] });
      expect(await p.exited).toEqual({ status: 0 });
    } finally {
      closeSync(a);
      closeSync(b);
    }
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('four\n');
    expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('three\n');
  });

  it('reaps many children at once, beside child_process children, each with its own status', async () => {
    const ours = Array.from({ length: 12 }, (_, i) =>
      spawnProcess({ file: 'sh', argv: ['sh', '-c', `sleep 0.0${i % 5}; exit ${i}`], fds: [0, 1, 2] }),
    );
    const { spawn } = await import('node:child_process');
    const theirs = Array.from(
      { length: 4 },
      (_, i) => new Promise<number | null>((resolve) => spawn('sh', ['-c', `exit ${40 + i}`]).on('exit', (code) => resolve(code))),
    );
    expect(await Promise.all(ours.map((p) => p.exited))).toEqual(ours.map((_, i) => ({ status: i })));
    expect(await Promise.all(theirs)).toEqual([40, 41, 42, 43]);
  });

  it('keeps the process alive while a child runs, without a thread of Node\'s pool', () => {
    // A process of its own: exiting early, or a new thread while the child runs, shows there and not here.
    const sys = join(pkgDir, 'dist', 'sys.js');
    const out = execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `import { readdirSync } from 'node:fs';
       const { spawnProcess } = await import(${JSON.stringify(sys)});
       const threads = () => readdirSync('/proc/self/task').length;
       const before = threads();
       const p = spawnProcess({ file: 'sh', argv: ['sh', '-c', 'sleep 0.3; exit 3'], fds: [0, 1, 2] });
       setTimeout(() => { process.stdout.write(JSON.stringify({ during: threads() - before }) + '\\n'); }, 100);
       p.exited.then((r) => process.stdout.write(JSON.stringify({ ...r, after: threads() - before }) + '\\n'));`,
    ], { encoding: 'utf8' });
    expect(out.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([{ during: 0 }, { status: 3, after: 0 }]);
  });

  it('throws ENOENT for a missing executable and starts nothing', () => {
    expect(() => spawnProcess({ file: '/nonexistent/rkt-test', argv: ['x'], fds: [0, 1, 2] })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('starts a session of its own when asked', async () => {
    const dir = await tmp.make();
    const out = join(dir, 'sid');
    const fd = openSync(out, 'w');
    try {
      const p = spawnProcess({ file: 'sh', argv: ['sh', '-c', 'ps -o sid= -p $$ >&3; echo $$ >&3'], fds: [0, 1, 2, fd], newSession: true });
      expect(await p.exited).toEqual({ status: 0 });
    } finally {
      closeSync(fd);
    }
    const [sid, pid] = readFileSync(out, 'utf8').trim().split(/\s+/);
    expect(sid).toBe(pid);
  });
});

describe('warmThreadPool', () => {
  it("starts libuv's pool (UV_THREADPOOL_SIZE threads) before any use of it, once, and the pool then does the process's fs work", () => {
    // A CommonJS process of its own, the addon loaded as the package loads it: an ES module's import would read
    // its files through the pool and start it. Threads counted: the warming thread is gone once the pool is up.
    const script = `const { fsync, openSync, readdirSync } = require('node:fs');
       const addon = { exports: {} };
       process.dlopen(addon, ${JSON.stringify(join(pkgDir, 'dist', 'sys.node'))});
       const threads = () => readdirSync('/proc/self/task').length;
       const before = threads();
       const calls = [addon.exports.warmThreadPool(), addon.exports.warmThreadPool()];
       process.once('exit', () => addon.exports.joinThreadPoolWarmer());
       const want = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
       const end = Date.now() + 5000;
       while (threads() - before !== want && Date.now() < end) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
       const warmed = threads() - before;
       fsync(openSync('/proc/self/exe', 'r'), (err) => process.stdout.write(JSON.stringify({ calls, warmed, fsync: err ? err.code : 'ok', after: threads() - before }) + '\\n'));`;
    for (const size of [undefined, '2']) {
      const out = execFileSync(process.execPath, ['-e', script], {
        encoding: 'utf8',
        env: { ...process.env, ...(size !== undefined ? { UV_THREADPOOL_SIZE: size } : {}) },
      });
      const n = Number(size ?? 4);
      expect(JSON.parse(out)).toEqual({ calls: [true, false], warmed: n, fsync: 'ok', after: n });
    }
  });

  it('lets a process that exits while the pool is still starting exit as it meant to, once it joins the warming thread', () => {
    // 128 threads make the pool's start long enough that an exit right after the warm-up always meets it: Node's
    // exit shuts the pool down, and without the join that aborted (SIGABRT) in every such run.
    const script = `const addon = { exports: {} };
       process.dlopen(addon, ${JSON.stringify(join(pkgDir, 'dist', 'sys.node'))});
       if (addon.exports.warmThreadPool()) process.once('exit', () => addon.exports.joinThreadPoolWarmer());
       process.exit(3);`;
    for (let i = 0; i < 5; i++) {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '128' } });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 3, signal: null, stderr: '' });
    }
  }, 30_000);
});

describe('exec through the addon', () => {
  // Each test in a Node process of its own, which the exec replaces.
  const sys = join(pkgDir, 'dist', 'sys.js');

  it('replaces the process: same pid, given argv, env, cwd and fds, default signals, and nothing of Node runs after', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'fd3');
    // Only fds 0-3 and whatever this test's own process left open without close-on-exec (the harness's).
    const script = `import { openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
       const { execProcess } = await import(${JSON.stringify(sys)});
       process.on('exit', () => writeSync(1, 'node exit listener\\n'));
       setTimeout(() => writeSync(1, 'node timer\\n'), 0);
       const fd = openSync(${JSON.stringify(file)}, 'w');
       const inherited = readdirSync('/proc/self/fd').map(Number).filter((n) => {
         try { return n > 3 && (parseInt(/flags:\\s+(\\d+)/.exec(readFileSync('/proc/self/fdinfo/' + n, 'utf8'))[1], 8) & 0o2000000) === 0; } catch { return false; }
       });
       writeSync(1, 'node ' + process.pid + ' ' + [0, 1, 2, 3, ...inherited].sort((a, b) => a - b).join(' ') + '\\n');
       execProcess({ file: 'sh', argv: ['sh', '-c', 'echo "sh $$ $0 $(pwd) $GREETING"; grep -E "^Sig(Ign|Blk)" /proc/self/status; echo to-fd3 >&3; ls /proc/$$/fd | sort -n | tr "\\\\n" " "', 'zero'],
         env: { GREETING: 'hello' }, cwd: ${JSON.stringify(dir)}, fds: [0, 1, 2, fd] });`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n');
    const [, pid, fds] = /^node (\d+) ([\d ]+)$/.exec(out[0] ?? '') ?? [];
    expect(pid).toBeDefined();
    expect(out.slice(1)).toEqual([`sh ${pid} zero ${dir} hello`, 'SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000', `${fds}`]);
    expect(readFileSync(file, 'utf8')).toBe('to-fd3\n');
  });

  it('leaves the new program no child: the keeper of the old memory is a grandchild that init reaps', async () => {
    // `read` is the shell's own: the list is taken with no child of the shell's running.
    const script = `const { execProcess } = await import(${JSON.stringify(sys)});
       execProcess({ file: 'sh', argv: ['sh', '-c', 'read -r kids < /proc/$$/task/$$/children; echo "children:$kids"'], fds: [0, 1, 2] });`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })).toBe('children:\n');
  });

  it('keeps the old memory in a keeper while the new program starts, away from its directory, and no longer than 100 ms', async () => {
    const dir = await tmp.make();
    // The keeper is the only process of the group still named node (the shell's children are sh, pgrep, ls...):
    // seen by the program as it starts, and again once the keeper's 100 ms are over and the program still runs,
    // by then ended (a zombie until its new parent, init here, reaps it) or gone.
    const program =
      'k=$(pgrep -g $$ -x node); echo "start:$k"; [ -n "$k" ] && readlink /proc/$k/cwd && ls -l /proc/$k/fd | grep -c -- "-> /"; ' +
      'sleep 1; s=$(awk \'/^State/ { print $2 }\' /proc/$k/status 2>/dev/null); echo "later:${s:-gone}"';
    const script = `const { execProcess } = await import(${JSON.stringify(sys)});
       execProcess({ file: 'sh', argv: ['sh', '-c', ${JSON.stringify(program)}], cwd: ${JSON.stringify(dir)}, fds: [0, 1, 2] });`;
    // A process group of its own (setsid(1)), so that only its processes are listed.
    const r = spawnSync('setsid', ['--wait', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^start:\d+$/);
    // Its working directory is not the pod's it exec'd in, and none of its descriptors is a file.
    expect(lines.slice(1, 3)).toEqual(['/', '0']);
    expect(lines[3]).toMatch(/^later:(Z|gone)$/);
  });

  it('throws ENOENT for a missing executable, with the process as it was: its fds, cwd, signals and event loop', () => {
    const script = `import { openSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
       const { execProcess } = await import(${JSON.stringify(sys)});
       const fd = openSync('/dev/null', 'r');
       const state = () => ({
         cwd: process.cwd(),
         fds: [0, 1, 2, 3, 4].map((n) => { try { return readlinkSync('/proc/self/fd/' + n) + ' ' + readFileSync('/proc/self/fdinfo/' + n, 'utf8').split('\\n')[1]; } catch { return 'closed'; } }),
         signals: readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^Sig(Ign|Blk)/.test(l)),
       });
       const before = state();
       let code;
       try { execProcess({ file: '/nonexistent/rkt-test', argv: ['x'], cwd: '/', fds: [fd, 1, 2, 0, fd] }); } catch (err) { code = err.code; }
       const after = state();
       // The keeper's first clone was reaped; the keeper itself (never this process's child) exits on its own.
       const children = readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim();
       setTimeout(() => writeSync(1, JSON.stringify({ code, same: JSON.stringify(before) === JSON.stringify(after), children, before, after })), 1);`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { code: string; same: boolean };
    expect(out).toMatchObject({ code: 'ENOENT', same: true, children: '' });
  });

  it('throws ENOENT for a working directory that does not exist, naming it', () => {
    const script = `const { execProcess } = await import(${JSON.stringify(sys)});
       try { execProcess({ file: '/bin/true', argv: ['true'], cwd: '/nonexistent/rkt-test', fds: [0, 1, 2] }); } catch (err) { process.stdout.write(err.code + ' ' + err.message); }`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })).toBe('ENOENT chdir /nonexistent/rkt-test: No such file or directory');
  });
});

describe('umount through the addon', () => {
  it('unmounts, lazily with MNT_DETACH, and throws EINVAL for what is not a mount point', async () => {
    const dir = await tmp.make();
    const target = join(dir, 't');
    mkdirSync(target);
    mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
    try {
      expect(await mountsUnder(dir)).toHaveLength(1);
      umount(target, MNT_DETACH);
      expect(await mountsUnder(dir)).toHaveLength(0);
    } finally {
      await unmountTree(dir, { lazy: true });
    }
    expect(() => umount(target)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('pipe and listenUnix through the addon', () => {
  it('gives a pipe whose ends a child gets only through fds: it writes to the one it is given', async () => {
    const [r, w] = pipe();
    try {
      expect(fstatSync(r).isFIFO()).toBe(true);
      // The write end is close-on-exec: the child sees it only as the fd 1 it was mapped to, so once it
      // and this process's copy are closed, the reader gets end of file.
      const p = spawnProcess({ file: 'sh', argv: ['sh', '-c', 'echo hello'], fds: [0, w, 2] });
      closeSync(w);
      expect(await p.exited).toEqual({ status: 0 });
      const buf = Buffer.alloc(64);
      const n = readSync(r, buf);
      expect(buf.subarray(0, n).toString()).toBe('hello\n');
      expect(readSync(r, buf)).toBe(0);
    } finally {
      closeSync(r);
    }
  });

  it('does not leak its ends into a child not given them', async () => {
    const [r, w] = pipe();
    const sleeper = spawnProcess({ file: 'sleep', argv: ['sleep', '5'], fds: [0, 1, 2] });
    try {
      closeSync(w);
      // End of file at once: the sleeping child holds no copy of the write end.
      expect(readSync(r, Buffer.alloc(8))).toBe(0);
    } finally {
      closeSync(r);
      process.kill(sleeper.pid, 'SIGKILL');
      await sleeper.exited;
    }
  });

  it('binds and listens on a unix socket that clients can reach before a server takes it over', async () => {
    const dir = await tmp.make();
    const path = join(dir, 'sock');
    const fd = listenUnix(path);
    expect(statSync(path).isSocket()).toBe(true);
    // A client connects and writes while nothing serves the socket yet: it waits in the queue.
    const client = createConnection(path);
    await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
    client.end('queued');
    const server = createServer();
    const got = new Promise<string>((resolve) => {
      server.on('connection', (conn) => {
        let text = '';
        conn.on('data', (d: Buffer) => (text += d.toString()));
        conn.on('end', () => resolve(text));
      });
    });
    await new Promise<void>((resolve) => server.listen({ fd }, () => resolve()));
    try {
      expect(await got).toBe('queued');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(() => listenUnix(path)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => listenUnix(join(dir, 'x'.repeat(200)))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  });
});

describe('openPty and ptyResize through the addon', () => {
  it('opens an unlocked pty pair: bytes written to the master are read on the slave, the size set on the master seen there', async () => {
    const pty = openPty();
    try {
      expect(pty.path).toMatch(/^\/dev\/pts\/\d+$/);
      expect(statSync(pty.path).isCharacterDevice()).toBe(true);
      const tty = await import('node:tty');
      expect(tty.isatty(pty.master) && tty.isatty(pty.slave)).toBe(true);
      // Close-on-exec: a child does not inherit either end.
      expect(spawnSync('sh', ['-c', `test -e /proc/self/fd/${pty.master} || test -e /proc/self/fd/${pty.slave} && echo leaked`], { encoding: 'utf8' }).stdout).toBe('');
      writeSync(pty.master, 'hi\n');
      const buf = Buffer.alloc(16);
      expect(buf.subarray(0, readSync(pty.slave, buf)).toString()).toBe('hi\n');
      ptyResize(pty.master, 33, 101);
      const out = spawnSync('stty', ['size'], { stdio: [pty.slave, 'pipe', 'pipe'], encoding: 'utf8' });
      expect(out.stdout).toBe('33 101\n');
      expect(() => ptyResize(-1, 1, 1)).toThrow();
    } finally {
      closeSync(pty.master);
      closeSync(pty.slave);
    }
  });
});
