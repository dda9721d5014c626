import { spawn } from 'node:child_process';
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { TarEntry, TarReader } from '@rkt/appc-spec';
import { DamagedBlobError, StoreError, fromAppcError } from './errors.js';
import { createHash } from './lazy-crypto.js';

/**
 * appc-spec's tar reader and layout rules (the same that checked each blob at import) are loaded only when a
 * tree is actually extracted: the package brings zod, which finding an already rendered tree must not load.
 */
type Tar = typeof import('@rkt/appc-spec');
const BLOCK = 512;

/** One image to extract: its open blob and the whitelists of it and every image above it. */
export interface Layer {
  readonly imageId: string;
  readonly blob: FileHandle;
  /** Each non-empty `pathWhitelist` on the way from the rendered image down to this layer. */
  readonly whitelists: readonly (readonly string[])[];
}

export interface ExtractOptions {
  readonly tarPath: string;
  /** Write the contents of `rootfs/` at the top of `dest` (for `rkt image extract --rootfs-only`). */
  readonly rootfsOnly: boolean;
  /**
   * Hash each blob as it is read and fail with `DamagedBlobError` if it no longer matches its image ID
   * (`rkt image extract` / `render`, whose output is the user's to trust). Tree renders leave it off: see the
   * README, "Damage on disk".
   */
  readonly verify?: boolean;
}

type Kind = 'dir' | 'symlink' | 'other';
const MAX_SYMLINK_HOPS = 40;

/**
 * What the tree will hold, tracked while the entries stream to tar. Names are resolved against it the way
 * a chroot into the tree would resolve them (rkt extracted inside a chroot): a lower layer's symlink
 * `rootfs/a -> /etc` sends an upper layer's `rootfs/a/x` to `rootfs/etc/x`. Each name handed to tar then has
 * no symlink among its parents, so tar never follows a link while writing; GNU tar's own rule (links to
 * absolute or `..` targets are created only after everything else) is a second barrier.
 */
class TreeView {
  private readonly kinds = new Map<string, Kind>([['rootfs', 'dir']]);
  private readonly targets = new Map<string, string>();
  /** For each path, the entry (`layer:index`) whose version ends up in the tree. */
  readonly winners = new Map<string, string>();

  /** Resolves every parent component of `name` (which starts with `rootfs`) to a symlink-free path. */
  resolveParents(name: string, where: string): string {
    const parts = name.split('/');
    const base = parts.pop() as string;
    const resolved = this.walk(['rootfs'], parts.slice(1), where, { hops: 0 });
    return [...resolved, base].join('/');
  }

  private walk(start: string[], comps: readonly string[], where: string, budget: { hops: number }): string[] {
    let cur = [...start];
    for (const c of comps) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (cur.length > 1) cur.pop(); // `..` at the rootfs stays there, as in a chroot
        continue;
      }
      const candidate = [...cur, c];
      const key = candidate.join('/');
      const kind = this.kinds.get(key);
      if (kind === 'symlink') {
        if (++budget.hops > MAX_SYMLINK_HOPS) {
          throw new StoreError('STORE_RENDER', `${where}: too many levels of symbolic links`, { subject: where });
        }
        const target = this.targets.get(key) ?? '';
        cur = this.walk(target.startsWith('/') ? ['rootfs'] : cur, target.split('/'), where, budget);
      } else if (kind === 'other') {
        throw new StoreError('STORE_RENDER', `${where}: a parent directory ${JSON.stringify(key)} is a file in a lower layer`, { subject: where });
      } else {
        cur = candidate;
      }
    }
    return cur;
  }

  set(name: string, e: TarEntry, entryKey: string): void {
    const kind: Kind = e.type === 'directory' ? 'dir' : e.type === 'symlink' ? 'symlink' : 'other';
    const old = this.kinds.get(name);
    if (old === 'dir' && kind !== 'dir') {
      // A directory replaced by a non-directory takes everything below it along.
      const prefix = `${name}/`;
      for (const k of [...this.kinds.keys()]) {
        if (k.startsWith(prefix)) { this.kinds.delete(k); this.targets.delete(k); this.winners.delete(k); }
      }
    }
    this.winners.set(name, entryKey);
    this.kinds.set(name, kind);
    if (kind === 'symlink') this.targets.set(name, e.linkname);
    else this.targets.delete(name);
  }
}

function whitelistSets(lists: readonly (readonly string[])[]): { keep: Set<string>; ancestors: Set<string> }[] {
  return lists.map((list) => {
    const keep = new Set<string>();
    const ancestors = new Set<string>(['/']);
    for (const raw of list) {
      const p = `/${raw.split('/').filter((c) => c !== '' && c !== '.').join('/')}`;
      keep.add(p);
      for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) ancestors.add(p.slice(0, i));
    }
    return { keep, ancestors };
  });
}

async function readLayer(layer: Layer, reader: TarReader, each: () => Promise<void>, verify: boolean): Promise<void> {
  const hash = verify ? createHash('sha512') : undefined;
  let position = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(1 << 20);
    const { bytesRead } = await layer.blob.read(buf, 0, buf.length, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    hash?.update(buf.subarray(0, bytesRead));
    reader.push(buf.subarray(0, bytesRead));
    await each();
  }
  // Before the reader's end: a blob cut short is damage, not a truncated archive of unknown origin.
  if (hash !== undefined && `sha512-${hash.digest('hex')}` !== layer.imageId) throw new DamagedBlobError(layer.imageId);
  reader.end();
}

/** The blob's image ID as it is on disk now, by positional reads (the descriptor's offset stays tar's). */
async function blobId(layer: Layer): Promise<string> {
  const hash = createHash('sha512');
  const buf = Buffer.allocUnsafe(1 << 20);
  let position = 0;
  for (;;) {
    const { bytesRead } = await layer.blob.read(buf, 0, buf.length, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    hash.update(buf.subarray(0, bytesRead));
  }
  return `sha512-${hash.digest('hex')}`;
}

/** The first layer whose blob no longer hashes to its ID, as the error to report. */
async function damagedLayer(layers: readonly Layer[]): Promise<DamagedBlobError | undefined> {
  for (const layer of layers) {
    if ((await blobId(layer).catch(() => undefined)) !== layer.imageId) return new DamagedBlobError(layer.imageId);
  }
  return undefined;
}

/**
 * Reads only the headers of a layer: entry contents are skipped by position, so the first pass costs a
 * few reads per entry instead of a read of the whole blob. Small synchronous reads of a local file are
 * far cheaper than as many thread-pool round trips.
 */
function readHeaders(layer: Layer, reader: TarReader): void {
  const fd = layer.blob.fd;
  let position = 0;
  const block = Buffer.alloc(BLOCK);
  for (;;) {
    const n = readSync(fd, block, 0, BLOCK, position);
    if (n === 0) break;
    position += n;
    reader.push(n === BLOCK ? block : block.subarray(0, n));
    if (n < BLOCK) break;
    position += reader.skipBody();
  }
  reader.end();
}

interface Placement {
  /** Final (resolved) name of each kept entry, by entry index. */
  readonly names: Map<number, string>;
  /** Hard link targets, resolved, by entry index. */
  readonly links: Map<number, string>;
}

/**
 * First pass, headers only: decides where each entry lands and which entry wins each path. The second pass
 * then writes every path of the tree once, so tar never has to replace what an earlier layer put down
 * (replacing a symlink by a directory, a file by a symlink, ...), which is where layered extraction with a
 * single tar run goes wrong. One exception: a file that a winning hard link points to is written even if a
 * later layer replaces its path (file over file is a replacement tar does well), so the link keeps the
 * content it had in its own layer.
 */
function place(tar: Tar, layers: readonly Layer[], rootfsOnly: boolean): { emit: Set<string>; placements: Placement[]; asIs: boolean } {
  const view = new TreeView();
  // Whether tar may read the blob itself (see `extractAsIs`): one layer, no whitelist, and every name already
  // in the normal form tar will see. Within one layer the layout rules leave nothing to resolve or replace.
  let asIs = layers.length === 1 && layers.every((l) => l.whitelists.length === 0);
  const placements: Placement[] = [];
  const linkTargets = new Map<string, string>(); // hard link entry key -> target entry key
  for (const [li, layer] of layers.entries()) {
    const where = layer.imageId;
    const rules = new tar.LayoutRules(where);
    const filters = whitelistSets(layer.whitelists);
    const names = new Map<number, string>();
    const links = new Map<number, string>();
    const byName = new Map<string, { final: string; index: number }>();
    let index = -1;
    const reader = new tar.TarReader({
      entry(e) {
        index++;
        const name = rules.check(e);
        if (asIs && name !== '' && e.name !== name && e.name !== `${name}/`) asIs = false;
        if (asIs && e.type === 'hardlink') {
          const target = tar.normalizeEntryName(e.linkname);
          if (!('name' in target) || target.name !== e.linkname) asIs = false;
        }
        let keep = name !== '' && name !== 'manifest' && !(rootfsOnly && name === 'rootfs');
        if (keep && name !== 'rootfs') {
          const abs = name.slice('rootfs'.length);
          keep = filters.every((f) => f.keep.has(abs) || (e.type === 'directory' && f.ancestors.has(abs)));
        }
        if (keep && e.type === 'hardlink') {
          const norm = tar.normalizeEntryName(e.linkname);
          const target = 'name' in norm ? byName.get(norm.name) : undefined;
          if (target === undefined) keep = false; // its target was left out by a whitelist
          else {
            links.set(index, target.final);
            linkTargets.set(`${li}:${index}`, `${li}:${target.index}`);
          }
        }
        if (keep) {
          const final = name === 'rootfs' ? name : view.resolveParents(name, `${where}: ${name}`);
          view.set(final, e, `${li}:${index}`);
          names.set(index, final);
          byName.set(name, { final, index });
        }
        return false;
      },
      data() {},
      end() {},
    }, where);
    readHeaders(layer, reader);
    placements.push({ names, links });
  }
  const emit = new Set(view.winners.values());
  for (const key of [...emit]) {
    for (let k: string | undefined = linkTargets.get(key); k !== undefined && !emit.has(k); k = linkTargets.get(k)) emit.add(k);
  }
  return { emit, placements, asIs };
}

/**
 * Streams the layers, filtered and renamed, into one GNU tar process extracting into `dest` (which must be
 * a fresh empty directory). GNU tar keeps what node-tar drops: devices, fifos, setuid bits, xattrs, owners.
 */
export async function extractLayers(layers: readonly Layer[], dest: string, opts: ExtractOptions): Promise<void> {
  const tar = await import('@rkt/appc-spec');
  try {
    await extractWith(tar, layers, dest, opts);
  } catch (err) {
    if (err instanceof DamagedBlobError) throw err;
    // Damage usually breaks the archive before its end, where the hash would have told: the blob is checked
    // now, and a mismatch is the error to report (what to do about it is fetch the image again).
    if (opts.verify === true) {
      const damaged = await damagedLayer(layers);
      if (damaged !== undefined) throw damaged;
    }
    // A blob changed on disk since its import meets the same rules again here, with the same codes.
    if (err instanceof tar.AppcError) throw fromAppcError(err, dest);
    throw err;
  }
}

/**
 * Whether `extractLayers` would hand tar the blob as it is (one layer, no whitelist, every name already in
 * tar's normal form): then an extraction of the same bytes made during the import is the same tree.
 */
export async function extractsAsIs(layers: readonly Layer[]): Promise<boolean> {
  const tar = await import('@rkt/appc-spec');
  try {
    return place(tar, layers, false).asIs;
  } catch (err) {
    if (err instanceof tar.AppcError) throw fromAppcError(err, layers[0]?.imageId ?? 'render');
    throw err;
  }
}

async function extractWith(tar: Tar, layers: readonly Layer[], dest: string, opts: ExtractOptions): Promise<void> {
  const { emit, placements, asIs } = place(tar, layers, opts.rootfsOnly);
  const args = ['-x', '-f', '-', '-C', dest, '--numeric-owner', '--preserve-permissions', '--xattrs', '--xattrs-include=*'];
  // Only root can give files their recorded owners; others get their own, as with any tar.
  args.push(process.getuid?.() === 0 ? '--same-owner' : '--no-same-owner');
  if (asIs && layers[0] !== undefined) return extractAsIs(layers[0], dest, args, opts);
  const child = spawn(opts.tarPath, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-2000); });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  let stdinFailed = false;
  child.stdin.on('error', () => { stdinFailed = true; });

  const out: Buffer[] = [];
  // Up to this much stays queued for tar: node reads and parses the next chunks while tar writes files,
  // instead of each side waiting for the other after every chunk (which doubled a render's time).
  const QUEUE = 8 << 20;
  const flush = async (): Promise<void> => {
    if (out.length === 0) return;
    const buf = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
    out.length = 0;
    if (stdinFailed || child.stdin.destroyed) return; // tar died: its exit status says why
    child.stdin.write(buf);
    if (child.stdin.writableLength > QUEUE) {
      await new Promise<void>((resolve) => {
        const done = () => { child.stdin.off('drain', done); child.stdin.off('close', done); resolve(); };
        child.stdin.on('drain', done);
        child.stdin.on('close', done);
      });
    }
  };
  const strip = (p: string) => (opts.rootfsOnly ? (p === 'rootfs' ? '.' : p.slice('rootfs/'.length)) : p);

  try {
    for (const [li, layer] of layers.entries()) {
      const { names, links } = placements[li] as Placement;
      let index = -1;
      let pad = 0;
      const reader = new tar.TarReader({
        entry(e: TarEntry) {
          index++;
          const final = names.get(index);
          if (final === undefined || !emit.has(`${li}:${index}`)) return false;
          // Each entry is written afresh under its resolved name: tar sees only names the first pass chose.
          const link = links.get(index);
          out.push(tar.encodeHeader({
            name: strip(final),
            type: e.type,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.type === 'file' ? e.size : 0,
            mtime: Math.trunc(e.mtime),
            linkname: link !== undefined ? strip(link) : e.type === 'symlink' ? e.linkname : undefined,
            devmajor: e.devmajor,
            devminor: e.devminor,
            xattrs: e.xattrs,
          }));
          pad = tar.tarPadding(e.size);
          return e.type === 'file' && e.size > 0;
        },
        data(chunk) {
          out.push(chunk as Buffer);
        },
        end() {
          if (pad > 0) out.push(Buffer.alloc(pad));
        },
      }, layer.imageId);
      await readLayer(layer, reader, flush, opts.verify === true);
    }
    out.push(tar.END_OF_ARCHIVE);
    await flush();
    child.stdin.end();
    let code: number | null;
    try {
      code = await exited;
    } catch (err) {
      throw new StoreError('STORE_RENDER', `cannot run ${opts.tarPath}: ${(err as Error).message}`, { subject: dest, cause: err });
    }
    if (code !== 0) {
      const msg = stderr.trim().split('\n').slice(-3).join('; ');
      throw new StoreError('STORE_RENDER', `extracting into ${dest} failed: ${msg || `tar exited with ${code}`}`, { subject: dest });
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * The fast path: when the first pass found that the stream would hand tar every entry of a single blob under
 * its own name, tar reads the blob itself (its open descriptor as stdin, so a concurrent removal cannot pull
 * it away) and selects `rootfs` by name. Same entries, same names, same checks already passed; the bytes
 * just do not cross this process, which halves a large render.
 */
async function extractAsIs(layer: Layer, dest: string, baseArgs: readonly string[], opts: ExtractOptions): Promise<void> {
  const args = [...baseArgs, ...(opts.rootfsOnly ? ['--strip-components=1'] : []), 'rootfs'];
  // Hashed beside tar, by positional reads of the same file (tar reads its copy of the descriptor from the
  // start); a mismatch fails the extraction even when tar took the damaged bytes without complaint.
  const hashing = opts.verify === true ? blobId(layer) : undefined;
  hashing?.catch(() => undefined);
  const child = spawn(opts.tarPath, args, { stdio: [layer.blob.fd, 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-2000); });
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
  } catch (err) {
    throw new StoreError('STORE_RENDER', `cannot run ${opts.tarPath}: ${(err as Error).message}`, { subject: dest, cause: err });
  }
  if (hashing !== undefined && (await hashing) !== layer.imageId) throw new DamagedBlobError(layer.imageId);
  if (code !== 0) {
    const msg = stderr.trim().split('\n').slice(-3).join('; ');
    throw new StoreError('STORE_RENDER', `extracting into ${dest} failed: ${msg || `tar exited with ${code}`}`, { subject: dest });
  }
}
