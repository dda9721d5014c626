import type { MessagePort, Worker } from 'node:worker_threads';

/**
 * A regular file of the archive that the feeder writes itself, around the page cache, instead of handing it to
 * tar: its first header at `offset` in the uncompressed archive, its bytes at `dataOffset`.
 */
export interface DirectFile {
  readonly offset: number;
  readonly dataOffset: number;
  readonly size: number;
  /** Its name under the extraction directory, in normal form (`rootfs/...`). */
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds, fractional when the archive says so. */
  readonly mtime: number;
}

/**
 * The feeder's whole program, evaluated from this string (the CLI bundles this package into its command files,
 * where no file of ours sits next to the code). It reads the blob from `position` up to what the writer has
 * written (`written`, shared), one chunk at a time with blocking reads, and writes each chunk to tar's stdin,
 * a non-blocking socket that the parent's libuv opened: on EAGAIN it naps a millisecond (the socket's buffer
 * is about 200 KB, which tar empties in about that) and writes again. The parent bumps `seq` on every change,
 * so that an idle feeder sleeps in `Atomics.wait` until then.
 *
 * The entries the parent names as direct files (`DirectFile`, through `port`, before their bytes are written)
 * are cut out of what tar gets and written here: the file created with O_DIRECT, its bytes staged in an
 * aligned buffer (the last block padded, then the file truncated to its size), then its owner (as root, as
 * tar's --same-owner), mode and modification time set as tar sets them.
 *
 * It posts `true` once it fed everything to the complete blob, `false` when stopped, when the blob shrank, when
 * a direct file could not be written or tar went away (EPIPE).
 */
function feederSource(): string {
  return `
const { workerData, parentPort, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
const fs = process.getBuiltinModule('node:fs');
const { join, dirname } = process.getBuiltinModule('node:path');
const { file, out, position, shared, chunk, align, dir, root, port } = workerData;
const seq = new Int32Array(shared, 0, 1);
const state = new Int32Array(shared, 4, 1);
const written = new Float64Array(shared, 8, 1);
const nap = new Int32Array(new SharedArrayBuffer(4));
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = fs.constants;
const aligned = (size) => {
  try { return new Uint8Array(new WebAssembly.Memory({ initial: Math.ceil(size / 65536) }).buffer, 0, size); }
  catch { return undefined; }
};
// Those before \`position\` were tar's already: dropped as the feed passes them, like any file it finds behind it.
const direct = [...workerData.files];
const padded = (d) => d.dataOffset + Math.ceil(d.size / 512) * 512;
function drain() {
  for (let m; (m = receiveMessageOnPort(port)) !== undefined; ) direct.push(m.message);
}
let stage;
let stageAligned = false;
/** The direct file being written: its descriptor, whether O_DIRECT, its staged bytes and where they go. */
let cur;
function openDirect(d) {
  fs.mkdirSync(dirname(join(dir, d.name)), { recursive: true });
  const path = join(dir, d.name);
  if (stage === undefined) {
    stage = aligned(chunk);
    stageAligned = stage !== undefined;
  }
  let fd;
  let odirect = stageAligned;
  if (odirect) {
    try { fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0o600); }
    catch (err) { if (err.code !== 'EINVAL') throw err; odirect = false; }
  }
  if (!odirect) {
    stage ??= new Uint8Array(chunk);
    fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL, 0o600);
  }
  cur = { d, fd, odirect, fill: 0, at: 0 };
}
function stageBytes(bytes) {
  for (let off = 0; off < bytes.length; ) {
    const k = Math.min(stage.length - cur.fill, bytes.length - off);
    stage.set(bytes.subarray(off, off + k), cur.fill);
    cur.fill += k;
    off += k;
    if (cur.fill === stage.length) {
      fs.writeSync(cur.fd, stage, 0, cur.fill, cur.at);
      cur.at += cur.fill;
      cur.fill = 0;
    }
  }
}
function closeDirect() {
  const { d, fd, odirect } = cur;
  try {
    if (cur.fill > 0) {
      const len = odirect ? Math.ceil(cur.fill / align) * align : cur.fill;
      stage.fill(0, cur.fill, len);
      fs.writeSync(fd, stage, 0, len, cur.at);
      if (len !== cur.fill) fs.ftruncateSync(fd, d.size);
    }
    // Owner first: a change of owner clears the set-user-ID and set-group-ID bits.
    if (root) fs.fchownSync(fd, d.uid, d.gid);
    fs.fchmodSync(fd, d.mode & 0o7777);
    fs.futimesSync(fd, Date.now() / 1000, d.mtime);
  } finally {
    cur = undefined;
    fs.closeSync(fd);
  }
}
function toTar(buf, from, to) {
  for (let off = from; off < to; ) {
    if (Atomics.load(state, 0) === ${STOPPED}) return false;
    try { off += fs.writeSync(out, buf, off, to - off); }
    catch (err) {
      if (err.code !== 'EAGAIN') return false;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
  return true;
}
function feed() {
  // The parent's descriptor of the blob, open until this ends: by the time a busy machine has started this
  // thread, the import may have moved the blob to its place already.
  let fd = workerData.blob;
  let odirect = workerData.odirect;
  let buf = odirect ? aligned(chunk) : undefined;
  if (buf === undefined) buf = new Uint8Array(chunk);
  let own = false;
  try {
    let pos = position;
    for (;;) {
      const s = Atomics.load(seq, 0);
      const st = Atomics.load(state, 0);
      if (st === ${STOPPED}) return false;
      const w = written[0];
      if (pos >= w) {
        if (st === ${COMPLETE}) return cur === undefined;
        Atomics.wait(seq, 0, s);
        continue;
      }
      const want = Math.min(chunk, w - pos);
      let got;
      try { got = fs.readSync(fd, buf, 0, odirect ? Math.ceil(want / align) * align : want, pos); }
      catch (err) {
        // A direct read refused: the blob through the page cache after all, by its name.
        if (!(odirect && err.code === 'EINVAL')) throw err;
        odirect = false;
        fd = fs.openSync(file, O_RDONLY);
        own = true;
        continue;
      }
      const n = Math.min(got, want);
      if (n === 0) return false;
      // Every direct file whose header is in these bytes was named before they were written.
      drain();
      const end = pos + n;
      for (let at = pos; at < end; ) {
        if (cur !== undefined) {
          const d = cur.d;
          const to = Math.min(end, padded(d));
          const from = Math.max(at, d.dataOffset);
          const upto = Math.min(to, d.dataOffset + d.size);
          if (upto > from) stageBytes(buf.subarray(from - pos, upto - pos));
          at = to;
          if (at === padded(d)) closeDirect();
          continue;
        }
        while (direct.length > 0 && direct[0].offset < at) direct.shift();
        const next = direct[0];
        const to = next === undefined ? end : Math.min(end, next.offset);
        if (to > at && !toTar(buf, at - pos, to - pos)) return false;
        at = to;
        if (next !== undefined && at === next.offset) openDirect(direct.shift());
      }
      pos = end;
    }
  } finally {
    if (cur !== undefined) { try { fs.closeSync(cur.fd); } catch {} }
    if (own) fs.closeSync(fd);
  }
}
let fed = false;
try { fed = feed(); } catch { fed = false; }
port.close();
parentPort.postMessage(fed);
`;
}

const COMPLETE = 1;
const STOPPED = 2;

export interface TarFeederOptions {
  /** The blob being written, read from `position` on through `blob`, a descriptor kept open until `done`. */
  readonly file: string;
  readonly blob: number;
  /** `blob` was opened with O_DIRECT: read in `align`-byte multiples. */
  readonly direct: boolean;
  readonly align: number;
  readonly position: number;
  /** Bytes per read and write. */
  readonly chunk: number;
  /** tar's stdin: the parent's end of the socket, with no write of the parent's pending on it. */
  readonly fd: number;
  /** tar's directory (`-C`), where the direct files are written. */
  readonly dir: string;
  /** The files named so far to be written here (those before `position` are tar's already). */
  readonly files: readonly DirectFile[];
}

/**
 * Feeds tar the blob as it grows from a thread of its own, and writes the archive's large regular files itself.
 *
 * On the main thread, the feed waited for the event loop and the thread pool, both busy with the download
 * (TLS, the HTTP parser, inflate on the pool): in `rkt fetch` of a 316 MB image tar had been given 79 MB when
 * the download ended, and extracting the rest took another second while nothing else ran. The thread's reads
 * and writes wait on nothing but the disk and tar.
 *
 * The large files go to the disk around the page cache, as the blob does (DirectFileWriter): through tar, each
 * of their pages cost the kernel an allocation and two copies (about 1 s of CPU for 300 MB on this project's
 * VMs), and the store's flush then wrote them out again.
 */
export class TarFeeder {
  /** `true` once the complete blob was fed; `false` when stopped or failed. */
  readonly done: Promise<boolean>;
  private readonly seq: Int32Array;
  private readonly state: Int32Array;
  private readonly written: Float64Array;

  private constructor(
    worker: Worker,
    shared: SharedArrayBuffer,
    private readonly port: MessagePort,
  ) {
    this.seq = new Int32Array(shared, 0, 1);
    this.state = new Int32Array(shared, 4, 1);
    this.written = new Float64Array(shared, 8, 1);
    this.done = new Promise<boolean>((resolve) => {
      worker.once('message', (fed: unknown) => resolve(fed === true));
      worker.once('error', () => resolve(false));
      worker.once('exit', () => resolve(false));
    }).finally(() => port.close());
  }

  /** A feeder on its own thread, or undefined when no thread could be started (the caller feeds tar itself). */
  static start(o: TarFeederOptions, written: number): TarFeeder | undefined {
    const shared = new SharedArrayBuffer(16);
    new Float64Array(shared, 8, 1)[0] = written;
    try {
      const { Worker: WorkerClass, MessageChannel } = process.getBuiltinModule('node:worker_threads');
      const { port1, port2 } = new MessageChannel();
      const worker = new WorkerClass(feederSource(), {
        eval: true,
        workerData: {
          file: o.file, blob: o.blob, out: o.fd, position: o.position, odirect: o.direct, align: o.align, chunk: o.chunk, shared,
          dir: o.dir, root: process.getuid?.() === 0, files: o.files, port: port2,
        },
        transferList: [port2],
      });
      return new TarFeeder(worker, shared, port1);
    } catch {
      return undefined;
    }
  }

  /** One more file to write directly: named before any of its bytes is `advance`d over. */
  directFile(f: DirectFile): void {
    this.port.postMessage(f);
  }

  /** The writer has `bytes` of the blob in place. */
  advance(bytes: number): void {
    this.written[0] = bytes;
    this.bump();
  }

  /** The blob is whole at `bytes`: the feeder ends once it fed them. */
  complete(bytes: number): void {
    this.written[0] = bytes;
    Atomics.store(this.state, 0, COMPLETE);
    this.bump();
  }

  /** Stops the feed; `done` then gives false (unless it had already ended). */
  stop(): void {
    Atomics.store(this.state, 0, STOPPED);
    this.bump();
  }

  private bump(): void {
    Atomics.add(this.seq, 0, 1);
    Atomics.notify(this.seq, 0);
  }
}
