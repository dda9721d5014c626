import { z } from 'zod';
import { AppcError, ValidationError } from '../errors.js';
import { formatJsonPath } from '../manifest/issues.js';
import { normalizeEntryName } from './layout-rules.js';
import type { TarHeader } from './tar-writer.js';

const bytes = z.union([z.string(), z.instanceof(Uint8Array)]);
const id = z.number().int().min(0).max(0xffff_ffff);

const common = {
  /** Path inside rootfs: `bin/sh` and `/bin/sh` both mean `rootfs/bin/sh`. */
  path: z.string().min(1),
  /** Permission bits with setuid/setgid/sticky; defaults: 0644 files and fifos, 0755 directories, 0777 symlinks, 0600 devices. */
  mode: z.number().int().min(0).max(0o7777).optional(),
  uid: id.optional(),
  gid: id.optional(),
  /** Seconds since the epoch, or a Date; defaults to 0 so that a build never depends on the clock. */
  mtime: z.union([z.number().int(), z.date()]).optional(),
  xattrs: z.record(z.string().min(1), bytes).optional(),
};

/** One file of an image built with `buildAci` from a list rather than a layout directory. */
export const aciEntrySchema = z.discriminatedUnion('type', [
  z
    .object({
      ...common,
      type: z.literal('file'),
      /** The contents, given inline... */
      data: bytes.optional(),
      /** ...or read from this host file when the archive is written. */
      source: z.string().min(1).optional(),
    })
    .refine((e) => (e.data === undefined) !== (e.source === undefined), { message: 'needs exactly one of data or source' }),
  z.object({ ...common, type: z.literal('directory') }),
  z.object({ ...common, type: z.literal('symlink'), target: z.string().min(1) }),
  /** Another entry of the list (a rootfs path), sharing its contents and metadata. */
  z.object({ ...common, type: z.literal('hardlink'), target: z.string().min(1) }),
  z.object({ ...common, type: z.enum(['char', 'block']), major: id, minor: id }),
  z.object({ ...common, type: z.literal('fifo') }),
]);
export type AciEntry = z.input<typeof aciEntrySchema>;
type ParsedEntry = z.infer<typeof aciEntrySchema>;

/** A header to write and where its contents come from. */
export interface PlannedEntry {
  header: TarHeader;
  contents?: { data: Uint8Array } | { file: string };
  /** Shown in errors: the host path or the list index. */
  origin: string;
}

const DEFAULT_MODE: Record<ParsedEntry['type'], number> = {
  file: 0o644,
  directory: 0o755,
  symlink: 0o777,
  hardlink: 0o644,
  char: 0o600,
  block: 0o600,
  fifo: 0o644,
};

/**
 * Turns a list of entries into archive order: sorted by path component by component (so parents come first),
 * with missing parent directories added (0755, root, mtime 0) and each hardlink group carried by its first
 * member in that order, so a link never precedes its target. `sizeOf` stats `source` files.
 */
export async function planEntries(list: readonly AciEntry[], sizeOf: (file: string) => Promise<number>): Promise<PlannedEntry[]> {
  const parsed = z.array(aciEntrySchema).safeParse(list);
  if (!parsed.success) {
    throw new ValidationError(
      'entries',
      parsed.error.issues.map((i) => ({ path: formatJsonPath(i.path), rule: i.message })),
    );
  }
  const byPath = new Map<string, { e: ParsedEntry; index: number }>();
  for (const [index, e] of parsed.data.entries()) {
    const path = rootfsPath(e.path, `entries[${index}].path`);
    if (byPath.has(path)) throw new AppcError('APPC_ACI_LAYOUT', `entries[${index}].path: ${JSON.stringify(e.path)} is listed twice`);
    byPath.set(path, { e, index });
  }
  for (const path of [...byPath.keys()]) {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i);
      if (!byPath.has(parent)) byPath.set(parent, { e: { type: 'directory', path: parent }, index: -1 });
    }
  }

  // Hardlink groups: resolve chains to the entry that owns the contents, then let the first path carry them.
  const owner = (path: string, seen: Set<string>): string => {
    const item = byPath.get(path);
    if (item === undefined) return path;
    if (item.e.type !== 'hardlink') return path;
    if (seen.has(path)) throw new AppcError('APPC_ACI_LAYOUT', `entries[${item.index}]: hardlink ${JSON.stringify(item.e.path)} is part of a cycle`);
    seen.add(path);
    return owner(rootfsPath(item.e.target, `entries[${item.index}].target`), seen);
  };
  const order = [...byPath.keys()].sort(comparePaths);
  const ownerOf = new Map<string, string>(); // hardlink path -> the entry that owns the contents
  for (const path of order) {
    const item = byPath.get(path)!;
    if (item.e.type !== 'hardlink') continue;
    const o = owner(path, new Set());
    const target = byPath.get(o);
    if (target === undefined) {
      throw new AppcError('APPC_ACI_LAYOUT', `entries[${item.index}].target: ${JSON.stringify(item.e.target)} is not in the list`);
    }
    if (target.e.type === 'directory') throw new AppcError('APPC_ACI_LAYOUT', `entries[${item.index}].target: ${JSON.stringify(item.e.target)} is a directory`);
    ownerOf.set(path, o);
  }
  const linked = new Set(ownerOf.values());
  const carrier = new Map<string, string>(); // owner -> first member of its group in archive order
  for (const path of order) {
    const o = ownerOf.get(path) ?? (linked.has(path) ? path : undefined);
    if (o !== undefined && !carrier.has(o)) carrier.set(o, path);
  }

  const planned: PlannedEntry[] = [];
  for (const path of order) {
    const item = byPath.get(path)!;
    const origin = item.index < 0 ? `(parent of listed entries) ${path}` : `entries[${item.index}]`;
    const o = ownerOf.get(path) ?? path;
    const first = carrier.get(o);
    if (first !== undefined && first !== path) {
      // A later member of a hardlink group.
      const own = byPath.get(o)!.e;
      planned.push({ header: { ...headerOf(own, path), type: 'hardlink', size: 0, linkname: `rootfs/${first}`, xattrs: undefined }, origin });
      continue;
    }
    const e = first !== undefined ? byPath.get(o)!.e : item.e;
    const header = headerOf(e, path);
    if (e.type === 'file') {
      if (e.data !== undefined) {
        const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
        planned.push({ header: { ...header, size: data.length }, contents: { data }, origin });
      } else {
        const file = e.source!;
        planned.push({ header: { ...header, size: await sizeOf(file) }, contents: { file }, origin });
      }
    } else {
      planned.push({ header, origin });
    }
  }
  return planned;
}

function headerOf(e: ParsedEntry, path: string): TarHeader {
  const mtime = e.mtime === undefined ? 0 : typeof e.mtime === 'number' ? e.mtime : Math.floor(e.mtime.getTime() / 1000);
  const xattrs = e.xattrs === undefined ? undefined : new Map(Object.entries(e.xattrs).map(([k, v]) => [k, typeof v === 'string' ? Buffer.from(v) : v] as const));
  return {
    name: `rootfs/${path}`,
    type: e.type,
    mode: e.mode ?? DEFAULT_MODE[e.type],
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: 0,
    mtime,
    linkname: e.type === 'symlink' ? e.target : undefined,
    devmajor: e.type === 'char' || e.type === 'block' ? e.major : undefined,
    devminor: e.type === 'char' || e.type === 'block' ? e.minor : undefined,
    xattrs: xattrs !== undefined && xattrs.size > 0 ? xattrs : undefined,
  };
}

function rootfsPath(p: string, where: string): string {
  const norm = normalizeEntryName(p.replace(/^\/+/, ''));
  if ('error' in norm) throw new AppcError('APPC_ACI_LAYOUT', `${where}: ${JSON.stringify(p)} ${norm.error}`);
  if (norm.name === '') throw new AppcError('APPC_ACI_LAYOUT', `${where}: ${JSON.stringify(p)} names rootfs itself`);
  return norm.name;
}

/** Component-wise byte order: a directory's children follow it directly, as a depth-first walk emits them. */
export function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(pa[i]!), Buffer.from(pb[i]!));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}
