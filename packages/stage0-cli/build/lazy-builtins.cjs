// The footer of every CommonJS bundle of the CLI (tsup.config.ts reads this file). Function declarations:
// hoisted, so the footer serves the whole file and the bundle's "use strict" stays first (this file has
// none: a directive here would be a stray statement there).

/**
 * A built-in module loaded on its first property access: a Proxy, because esbuild's code reads members off
 * the module object at each use (`(0, x.readFile)(...)`), which is where the load happens.
 */
function $rktLz_(id) {
  let m;
  const l = () => (m ??= require(id));
  if (id === 'fs/promises' || id === 'node:fs/promises') return $rktFsP_(l);
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
 * `fs/promises` as the callback API of `fs` (which Node's own start-up has loaded) wrapped in promises: Node
 * compiles `fs/promises` and what it needs (2-3 ms) on first use, and nearly every command uses it, for a
 * handful of small calls. What this does not cover comes from the real module, loaded then: functions it
 * does not list, and `writeFile` of anything but a string or bytes. Its file handles (`open`) are plain
 * objects over a descriptor with the methods rkt-ts's code calls (read, write, writeFile, readFile, stat,
 * sync, datasync, truncate, chmod, chown, close and `fd`); any other member is an error that names it,
 * rather than `undefined`.
 */
function $rktFsP_(real) {
  const fs = require('fs');
  const promised =
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
        return promised(fs.write)(this.fd, data, offset ?? null, length ?? 'utf8').then((n) => ({ bytesWritten: n, buffer: data }));
      }
      const off = offset ?? 0;
      return promised(fs.write)(this.fd, data, off, length ?? data.byteLength - off, position ?? null).then((n) => ({ bytesWritten: n, buffer: data }));
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
      return promised(fs.read)(this.fd, buffer, off, length ?? buffer.byteLength - off, position ?? null).then((n) => ({ bytesRead: n, buffer }));
    }
    readFile(options) {
      return promised(fs.readFile)(this.fd, options);
    }
    stat(options) {
      return promised(fs.fstat)(this.fd, options ?? {});
    }
    sync() {
      return promised(fs.fsync)(this.fd);
    }
    datasync() {
      return promised(fs.fdatasync)(this.fd);
    }
    truncate(length) {
      return promised(fs.ftruncate)(this.fd, length ?? 0);
    }
    chmod(mode) {
      return promised(fs.fchmod)(this.fd, mode);
    }
    chown(uid, gid) {
      return promised(fs.fchown)(this.fd, uid, gid);
    }
    close() {
      return promised(fs.close)(this.fd);
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
    open: (path, flags, mode) => promised(fs.open)(path, flags ?? 'r', mode ?? 0o666).then(handle),
    writeFile: (path, data, options) =>
      bytes(data, options) === undefined || typeof path !== 'string' ? real().writeFile(path, data, options) : promised(fs.writeFile)(path, data, options ?? {}),
  };
  for (const k of ['readFile', 'mkdir', 'stat', 'lstat', 'rename', 'readdir', 'rm', 'rmdir', 'unlink', 'utimes', 'symlink', 'readlink', 'realpath', 'access', 'chmod', 'chown', 'link', 'mkdtemp', 'copyFile', 'appendFile', 'truncate']) {
    lite[k] = promised(fs[k]);
  }
  return new Proxy(lite, {
    get: (t, k) => (k in t ? t[k] : real()[k]),
    has: (t, k) => k in t || k in real(),
  });
}
