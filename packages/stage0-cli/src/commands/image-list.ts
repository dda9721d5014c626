import type { ImageRecord } from '@rkt/image-store';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { listingOptions, renderListing, shortImageId, type Column } from '../output/listing.js';
import { displayName, openImageStore } from './image-common.js';
import { formatGoTime, humanizeBytes, humanizeTime } from './image-format.js';

type Row = ImageRecord;

/** rkt's `image list` fields, their legend and cell. */
const FIELDS: Record<string, Column<Row>> = {
  id: { header: 'ID', cell: (r, full) => shortImageId(r.id, full) },
  name: { header: 'NAME', cell: (r) => displayName(r) },
  size: { header: 'SIZE', cell: (r, full) => (full ? String(r.blobSize + r.treeSize) : humanizeBytes(r.blobSize + r.treeSize)) },
  importtime: { header: 'IMPORT TIME', cell: (r, full) => (full ? formatGoTime(r.importedAt) : humanizeTime(r.importedAt)) },
  lastused: { header: 'LAST USED', cell: (r, full) => (full ? formatGoTime(r.lastUsedAt) : humanizeTime(r.lastUsedAt)) },
  latest: { header: 'LATEST', cell: (r) => String(r.latest) },
};
const SORTS: Record<string, (a: Row, b: Row) => number> = {
  id: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  importtime: (a, b) => a.importedAt - b.importedAt,
  lastused: (a, b) => a.lastUsedAt - b.lastUsedAt,
  size: (a, b) => a.blobSize + a.treeSize - (b.blobSize + b.treeSize),
};

/** rkt's comma-separated field flags: any case, each known, none twice. */
function fieldList(flagName: string, raw: string, known: readonly string[]): string[] {
  const seen = new Set<string>();
  return raw.split(',').map((f) => {
    const name = f.toLowerCase();
    if (!known.includes(name)) {
      throw new CliError('CLI_BAD_FLAG_VALUE', `invalid argument ${JSON.stringify(raw)} for --${flagName}: unknown field ${JSON.stringify(name)} (accepted: ${known.join(', ')})`);
    }
    if (seen.has(name)) throw new CliError('CLI_BAD_FLAG_VALUE', `invalid argument ${JSON.stringify(raw)} for --${flagName}: duplicated field ${JSON.stringify(name)}`);
    seen.add(name);
    return name;
  });
}

export async function run(ctx: CommandContext): Promise<void> {
  const fields = fieldList('fields', ctx.flags.string('fields'), Object.keys(FIELDS));
  const sorts = fieldList('sort', ctx.flags.string('sort'), Object.keys(SORTS));
  const desc = ctx.flags.string('order') === 'desc';
  const store = await openImageStore(ctx);
  const rows = await store.list();
  rows.sort((a, b) => {
    for (const s of sorts) {
      const c = (SORTS[s] as (a: Row, b: Row) => number)(a, b);
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  });
  const columns = fields.map((f) => FIELDS[f] as Column<Row>);
  ctx.stdout.write(renderListing(rows, columns, {
    ...listingOptions(ctx.flags),
    // rkt's ImageListEntry: times in nanoseconds since the epoch, size in bytes (blob and trees).
    json: (rs) => rs.map((r) => ({
      id: r.id,
      name: displayName(r),
      import_time: r.importedAt * 1e6,
      last_used: r.lastUsedAt * 1e6,
      size: r.blobSize + r.treeSize,
    })),
  }));
}
