// The footer of every CommonJS bundle of the CLI (tsup.config.ts reads this file). Function declarations:
// hoisted, so the footer serves the whole file and the bundle's "use strict" stays first (this file has
// none: a directive here would be a stray statement there). Its one statement ($rktMeta's getter) runs
// after the bundle's own top-level code.

/**
 * A built-in module loaded on its first property access: a Proxy, because esbuild's code reads members off
 * the module object at each use (`(0, x.readFile)(...)`), which is where the load happens.
 */
function $rktLz_(id) {
  let m;
  const l = () => (m ??= $rktRq_(id));
  // One for the whole bundle: each module of it that imports fs/promises asks (48 in `rkt run`'s), and building
  // it (its functions, class and proxy) cost 0.5 ms of every start when each got its own.
  if (id === 'fs/promises' || id === 'node:fs/promises') return ($rktLz_.fsPromises ??= $rktFsP_(l));
  return new Proxy(
    {},
    {
      get: (_, k) => l()[k],
      has: (_, k) => k in l(),
      ownKeys: () => Reflect.ownKeys(l()),
      getOwnPropertyDescriptor: (_, k) => {
        const d = Reflect.getOwnPropertyDescriptor(l(), k);
        if (d) d.configurable = true;
        return d;
      },
    },
  );
}

/**
 * `require`, asking the core first for the third-party packages it loads through a V8 code cache
 * (src/vendored.ts: zod, openpgp, the NATS client); anything else, or without the core, is Node's require.
 */
function $rktRq_(id) {
  const vendored = globalThis[Symbol.for('rkt-ts.vendored')];
  return (vendored !== undefined && vendored(id)) || require(id);
}

/**
 * A Node built-in the bundle needs at once (`fs`, `url`, `buffer`...): `require("fs")` becomes
 * `$rktBm_("fs")`, as long. Node's `require` resolves each call through its module loader (normalising the
 * id, looking for a file of that name first): `rkt run`'s bundle made 40 such calls, ~0.3 ms on a cold start,
 * where `process.getBuiltinModule` hands back the object Node already holds.
 */
function $rktBm_(id) {
  return process.getBuiltinModule(id);
}

/**
 * `path` for the CLI: Node's module, with a `join` that skips normalising when its parts are already normal.
 * Node's join always runs `normalizeString`, a loop over every character that calls a function for each; on
 * a cold start it runs interpreted, about 20 us for one of rkt's paths, and `rkt run` joins about a hundred
 * (the pod's files, the store's layout): 1.3 ms of a fly run, side by side.
 *
 * The result is always Node's: the fast case is parts that are each non-empty, hold no `//`, no `.` or `..`
 * component and no trailing `/`, none but the first absolute; joined with `/`, they are already what
 * normalising would make of them. Anything else goes to Node's join (test/lazy-builtins.test.ts compares
 * the two on generated paths). The libraries keep the real module when embedded elsewhere.
 */
function $rktPt_(id) {
  if ($rktPt_.fast !== undefined) return $rktPt_.fast;
  const real = require(id);
  const normalPart = (p) =>
    p.length > 0 &&
    !p.endsWith('/') &&
    !p.includes('//') &&
    p !== '.' &&
    p !== '..' &&
    !p.startsWith('./') &&
    !p.startsWith('../') &&
    !p.includes('/./') &&
    !p.includes('/../') &&
    !p.endsWith('/.') &&
    !p.endsWith('/..');
  function join(...parts) {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (typeof p !== 'string') return real.join(...parts);
      if (i === 0) {
        if (p !== '/' && !normalPart(p)) return real.join(...parts);
        out = p;
      } else {
        if (p.startsWith('/') || !normalPart(p)) return real.join(...parts);
        out = out === '/' ? `/${p}` : `${out}/${p}`;
      }
    }
    return parts.length === 0 ? real.join() : out;
  }
  $rktPt_.fast = { ...real, join };
  return $rktPt_.fast;
}

/**
 * `fs/promises` for the CLI, over `fs` (which Node's own start-up has loaded), rather than the real module:
 * Node compiles that and what it needs (2-3 ms) on its first use, and nearly every command uses it.
 *
 * The calls are made synchronously, except where they may take long: reads and writes of 64 KiB or more,
 * `readFile` of anything but a small regular file, recursive `rm`, `copyFile`, and fsync (`sync`,
 * `datasync`) go to Node's thread pool, as the real module's would. A command is one process waiting on its
 * own work, and a small call done synchronously takes microseconds where a trip through the pool and back
 * takes tens of them, longer on a cold start: `rkt run` makes dozens (the store, the pod directory, the
 * stage1), about 5-12 ms of a systemd pod's start side by side. The libraries keep the real, asynchronous
 * module when embedded elsewhere; only the CLI's bundles end with this file.
 *
 * What this does not cover comes from the real module, loaded then: functions it does not list, and
 * `writeFile` of anything but a string or bytes. Its file handles (`open`) are plain objects over a
 * descriptor with the methods rkt-ts's code calls (read, write, writeFile, readFile, stat, sync, datasync,
 * truncate, chmod, chown, close and `fd`); any other member is an error that names it, rather than `undefined`.
 */
function $rktFsP_(real) {
  const fs = require('fs');
  const BIG = 64 * 1024;
  // A synchronous call as a promise: settled at once, with its value or its error.
  const now =
    (f) =>
    (...args) => {
      try {
        return Promise.resolve(f(...args));
      } catch (err) {
        return Promise.reject(err);
      }
    };
  // Through the thread pool, as the real module.
  const pooled =
    (f) =>
    (...args) =>
      new Promise((resolve, reject) => f(...args, (err, value) => (err ? reject(err) : resolve(value))));
  const bytes = (data, options) =>
    typeof data === 'string'
      ? Buffer.from(data, typeof options === 'string' ? options : (options?.encoding ?? 'utf8'))
      : ArrayBuffer.isView(data)
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : undefined;
  class Handle {
    constructor(fd) {
      this.fd = fd;
    }
    write(data, offset, length, position) {
      if (typeof data === 'string') {
        // write(string, position, encoding)
        return now(() => ({ bytesWritten: fs.writeSync(this.fd, data, offset ?? null, length ?? 'utf8'), buffer: data }))();
      }
      const off = offset ?? 0;
      const len = length ?? data.byteLength - off;
      if (len >= BIG) return pooled(fs.write)(this.fd, data, off, len, position ?? null).then((n) => ({ bytesWritten: n, buffer: data }));
      return now(() => ({ bytesWritten: fs.writeSync(this.fd, data, off, len, position ?? null), buffer: data }))();
    }
    async writeFile(data, options) {
      const b = bytes(data, options);
      if (b === undefined) throw new TypeError('FileHandle.writeFile: only a string or bytes (rkt-ts light fs/promises, build/lazy-builtins.cjs)');
      for (let off = 0; off < b.length; ) off += (await this.write(b, off, b.length - off, null)).bytesWritten;
    }
    read(buffer, offset, length, position) {
      if (buffer === undefined || (typeof buffer === 'object' && !ArrayBuffer.isView(buffer))) {
        const o = buffer ?? {};
        buffer = o.buffer ?? Buffer.alloc(16384);
        offset = o.offset;
        length = o.length;
        position = o.position;
      }
      const off = offset ?? 0;
      const len = length ?? buffer.byteLength - off;
      if (len >= BIG) return pooled(fs.read)(this.fd, buffer, off, len, position ?? null).then((n) => ({ bytesRead: n, buffer }));
      return now(() => ({ bytesRead: fs.readSync(this.fd, buffer, off, len, position ?? null), buffer }))();
    }
    readFile(options) {
      return pooled(fs.readFile)(this.fd, options);
    }
    stat(options) {
      return now(() => fs.fstatSync(this.fd, options))();
    }
    sync() {
      return pooled(fs.fsync)(this.fd);
    }
    datasync() {
      return pooled(fs.fdatasync)(this.fd);
    }
    truncate(length) {
      return now(() => fs.ftruncateSync(this.fd, length ?? 0))();
    }
    chmod(mode) {
      return now(() => fs.fchmodSync(this.fd, mode))();
    }
    chown(uid, gid) {
      return now(() => fs.fchownSync(this.fd, uid, gid))();
    }
    close() {
      return now(() => fs.closeSync(this.fd))();
    }
  }
  const handle = (fd) =>
    new Proxy(new Handle(fd), {
      get: (h, k) => {
        if (k in h || typeof k === 'symbol' || k === 'then') return h[k];
        throw new TypeError(`FileHandle.${String(k)} is not in rkt-ts's light fs/promises (packages/stage0-cli/build/lazy-builtins.cjs)`);
      },
    });
  const lite = {
    open: (path, flags, mode) => now(() => handle(fs.openSync(path, flags ?? 'r', mode ?? 0o666)))(),
    readFile: (path, options) => {
      let small = false;
      try {
        const st = typeof path === 'string' ? fs.statSync(path) : undefined;
        small = st !== undefined && st.isFile() && st.size < BIG;
      } catch {
        // A missing file (a lookup's usual answer): the read reports it at once, with the real module's message.
        small = true;
      }
      return small ? now(fs.readFileSync)(path, options) : pooled(fs.readFile)(path, options ?? {});
    },
    writeFile: (path, data, options) => {
      const b = bytes(data, options);
      if (b === undefined || typeof path !== 'string') return real().writeFile(path, data, options);
      return b.length < BIG ? now(fs.writeFileSync)(path, data, options ?? {}) : pooled(fs.writeFile)(path, data, options ?? {});
    },
    rm: (path, options) => (options?.recursive ? pooled(fs.rm)(path, options) : now(fs.rmSync)(path, options)),
    copyFile: pooled(fs.copyFile),
  };
  for (const k of ['mkdir', 'stat', 'lstat', 'rename', 'readdir', 'rmdir', 'unlink', 'utimes', 'symlink', 'readlink', 'realpath', 'access', 'chmod', 'chown', 'link', 'mkdtemp', 'appendFile', 'truncate']) {
    lite[k] = now(fs[`${k}Sync`]);
  }
  // The real module's realpath is the native one (one call), not the JavaScript walk of realpathSync.
  lite.realpath = now((path, options) => fs.realpathSync.native(path, options));
  return new Proxy(lite, {
    get: (t, k) => (k in t ? t[k] : real()[k]),
    has: (t, k) => k in t || k in real(),
  });
}

/**
 * `import.meta.url` of the bundle's ES module sources, which tsup.config.ts defines as `$rktMeta.url`: the
 * bundle's file URL, computed on first use. Defined here, at the end of the bundle's top-level code, so only
 * code that runs after the load (inside functions) may read it.
 */
function $rktMeta() {}
Object.defineProperty($rktMeta, 'url', { get: () => require('url').pathToFileURL(__filename).href });
