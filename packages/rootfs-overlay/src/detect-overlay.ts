import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalPath, isAtOrUnder } from './canonical-path.js';
import { RootfsError } from './errors.js';
import { kernelClockMicros, kernelMessagesSince, OVERLAY_LOG_PREFIXES } from './kernel-log.js';
import { mountOverlay } from './mount-overlay.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import { pidRuns, processStartTime } from './process-start.js';
import { unmountTree } from './unmount-tree.js';
import { randomBytes } from './lazy-crypto.js';

export interface OverlaySupport {
  supported: boolean;
  /** Why overlay cannot be used here (for `--debug`); absent when supported. */
  reason?: string;
}

/** The verdict as cached in `<dataDir>/overlay-support.json`. */
interface CachedVerdict extends OverlaySupport {
  version: 1;
  /** `major:minor` of the data dir's filesystem: a data dir moved to another disk is probed again. */
  device: string;
  /** A new kernel may support what an old one did not. */
  kernel: string;
  checkedAt: string;
}

export const CACHE_FILE = 'overlay-support.json';

/** `major:minor` of a `stat().dev`, in the glibc encoding of dev_t that mountinfo prints. */
export function majorMinor(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * Finds out whether pods whose directories live in `dataDir` can get overlay root filesystems, by
 * really mounting a tiny overlay there (lower, upper and work all in `dataDir`'s filesystem) and checking
 * that it behaves: a write lands in the upper dir only, and deleting a lower file leaves a whiteout and
 * drops the file from directory listings (which fails without d_type, though the mount succeeds). The
 * verdict is cached in `<dataDir>/overlay-support.json`, keyed by the filesystem's device and the kernel
 * release, so each later call costs one stat and one small read. `force` probes again.
 *
 * ```ts
 * const { supported, reason } = await detectOverlay('/var/lib/rkt');
 * if (!supported) debug(`no overlay: ${reason}`);
 * ```
 */
export async function detectOverlay(dataDir: string, o: { force?: boolean } = {}): Promise<OverlaySupport> {
  let dir: string;
  let device: string;
  try {
    dir = await canonicalPath(dataDir);
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    device = majorMinor(st.dev);
  } catch (cause) {
    throw new RootfsError('ROOTFS_DETECT', `cannot probe overlay support in data dir ${dataDir}: ${(cause as Error).message}`, { path: dataDir, cause });
  }
  const cacheFile = join(dir, CACHE_FILE);
  if (!o.force) {
    const cached = await readCache(cacheFile);
    if (cached && cached.device === device && cached.kernel === kernelRelease()) {
      return cached.supported ? { supported: true } : { supported: false, reason: cached.reason ?? 'unknown (cached)' };
    }
  }
  const verdict = await probe(dir, device);
  if (!verdict.supported && process.getuid?.() !== 0) {
    // Without root every mount fails: that says nothing about the filesystem, so keep it out of the
    // cache a later rkt running as root would trust.
    return verdict;
  }
  const record: CachedVerdict = { version: 1, device, kernel: kernelRelease(), checkedAt: new Date().toISOString(), ...verdict };
  // Named after its writer like a probe: one killed before the rename leaves it, for the next probe or gc.
  const tmp = join(dir, `${CACHE_TEMP_PREFIX}${writerTag()}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, cacheFile);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new RootfsError('ROOTFS_DETECT', `cannot record overlay support in ${cacheFile}: ${(cause as Error).message}`, { path: cacheFile, cause });
  }
  return verdict;
}

/** os.release() without loading node:os on every `rkt run` (~0.5 ms): the same uname(2) field, from proc. */
function kernelRelease(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return process.getBuiltinModule('os').release();
  }
}

async function readCache(file: string): Promise<CachedVerdict | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<CachedVerdict> | null;
    // A cache written by another version or torn by a crash is only a reason to probe again.
    if (v?.version !== 1 || typeof v.device !== 'string' || typeof v.kernel !== 'string' || typeof v.supported !== 'boolean') return undefined;
    return v as CachedVerdict;
  } catch {
    return undefined;
  }
}

/** Describes the filesystem under `dir` for reasons: `ext4 (/dev/vda, 254:0, mounted at /)`. */
async function describeFs(dir: string, device: string): Promise<string> {
  const mounts = (await readMountinfo().catch(() => [])).filter((m) => isAtOrUnder(dir, m.mountPoint));
  const m = mounts.sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id)[0];
  return m ? `${m.fsType} (${m.source}, ${device}, mounted at ${m.mountPoint})` : `device ${device}`;
}

const PROBE_PREFIX = '.overlay-probe-';
/** The verdict's temp file: `overlay-support.json.<pid>.<starttime>-<random>` (before session 21, `<pid>-<random>`). */
const CACHE_TEMP_PREFIX = `${CACHE_FILE}.`;

/** `<pid>.<starttime>`: the prober or verdict writer, for good (a pid alone is reused). */
function writerTag(): string {
  return `${process.pid}.${processStartTime(process.pid) ?? '0'}`;
}

/**
 * A probe directory's name: `.overlay-probe-<pid>.<starttime>-XXXXXX`, after the prober's pid and its start
 * time in /proc, so that gc can tell whether the prober still runs. Before session 19 it was
 * `.overlay-probe-<pid>-XXXXXX`: a dead prober's pid reused by any other process kept its probe (and its
 * mount) from every gc for that process's life. Such names are still read, by the pid alone.
 */
function probePrefix(): string {
  return `${PROBE_PREFIX}${writerTag()}-`;
}

/**
 * A probe killed mid-way (kill -9, power loss) leaves its directory, maybe with its overlay still
 * mounted, or the verdict's temp file. Their names carry the writer's pid and start time: remove those whose
 * process is gone, never a live one's, which a concurrent rkt may be using right now. The next probe does it,
 * and so does `rkt gc`: once a verdict is cached no probe runs again, and a data dir whose first `rkt run` was
 * killed there kept the mount through every gc.
 */
export async function removeStaleOverlayProbes(dataDir: string): Promise<void> {
  const dir = await canonicalPath(dataDir);
  if (existsSync(dir)) await removeStaleProbes(dir); // no data dir: nothing was probed
}

async function removeStaleProbes(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const stale = join(dir, name);
    if (name.startsWith(CACHE_TEMP_PREFIX)) {
      if (!proberAlive(name.slice(CACHE_TEMP_PREFIX.length))) await rm(stale, { force: true });
      continue;
    }
    if (!name.startsWith(PROBE_PREFIX) || proberAlive(name.slice(PROBE_PREFIX.length))) continue;
    await unmountTree(stale, { lazy: true });
    await rm(stale, { recursive: true, force: true });
  }
}

/**
 * Whether the prober that named a probe (or a verdict's temp) `<pid>.<starttime>-XXXXXX` (or, before session
 * 19, `<pid>-XXXXXX`) runs. A writer that could not read its own start time (`.0`) is known by its pid alone.
 */
function proberAlive(rest: string): boolean {
  const m = /^(\d+)(?:\.(\d+))?-/.exec(rest);
  // Not a name a prober gives: not rkt's, leave it.
  if (m === null) return true;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  return m[2] === undefined || m[2] === '0' ? pidRuns(pid) : processStartTime(pid) === m[2];
}


async function probe(dir: string, device: string): Promise<OverlaySupport> {
  let tmp: string;
  try {
    await removeStaleProbes(dir);
    tmp = await mkdtemp(join(dir, probePrefix()));
  } catch (cause) {
    throw new RootfsError('ROOTFS_DETECT', `cannot probe overlay support in data dir ${dir}: ${(cause as Error).message}`, { path: dir, cause });
  }
  const l = join(tmp, 'lower');
  const u = join(tmp, 'upper');
  const m = join(tmp, 'merged');
  const since = kernelClockMicros();
  let mounted = false;
  const unsupported = async (why: string): Promise<OverlaySupport> => {
    // When the mount itself worked, the kernel may still have warned why it misbehaves
    // ("upper fs needs to support d_type"); a failed mount's message already carries its kernel lines.
    const kernel = mounted ? await kernelMessagesSince(since - 1000, OVERLAY_LOG_PREFIXES) : [];
    return {
      supported: false,
      reason: `overlay on ${await describeFs(dir, device)}: ${why}${kernel.length > 0 ? `; kernel: ${kernel.join('; ')}` : ''}`,
    };
  };
  try {
    await mkdir(l);
    await writeFile(join(l, 'kept'), 'lower');
    await mkdir(join(l, 'd'));
    await writeFile(join(l, 'd', 'deleted'), 'lower');
    await writeFile(join(l, 'd', 'other'), 'lower');
    try {
      await mountOverlay({ lower: l, upper: u, work: join(tmp, 'work'), target: m });
    } catch (e) {
      if (e instanceof RootfsError && (e.code === 'ROOTFS_MOUNT' || e.code === 'ROOTFS_TOOL_MISSING')) return await unsupported(e.message);
      throw e;
    }
    mounted = true;
    // A mount that succeeds can still be unusable (an upper without whiteout support); check behaviour.
    if ((await readFile(join(m, 'kept'), 'utf8')) !== 'lower') return await unsupported('the merged tree does not show the lower tree');
    await writeFile(join(m, 'kept'), 'upper');
    await unlink(join(m, 'd', 'deleted'));
    if ((await readFile(join(l, 'kept'), 'utf8')) !== 'lower') return await unsupported('a write through the mount changed the lower tree');
    if ((await readFile(join(u, 'kept'), 'utf8')) !== 'upper') return await unsupported('a write through the mount did not reach the upper dir');
    // Without d_type in the upper filesystem (ext4 -O ^filetype, xfs ftype=0) the mount works but
    // overlayfs cannot spot whiteouts while listing, so deleted files come back in directory listings
    // (seen in a directory whose only change is the deletion; the probe keeps it that way).
    if ((await readdir(join(m, 'd'))).includes('deleted')) return await unsupported('a deleted lower file still shows in the directory listing (no d_type support?)');
    const wh = await lstat(join(u, 'd', 'deleted')).catch(() => undefined);
    if (!wh?.isCharacterDevice() || wh.rdev !== 0) return await unsupported('deleting a lower file left no whiteout in the upper dir');
    return { supported: true };
  } catch (cause) {
    if (cause instanceof RootfsError) throw cause;
    return await unsupported(`the probe mount misbehaved: ${(cause as Error).message}`);
  } finally {
    await unmountTree(tmp, { lazy: true });
    await rm(tmp, { recursive: true, force: true });
  }
}
