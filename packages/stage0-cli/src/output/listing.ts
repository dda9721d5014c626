import { flag, type FlagSpec } from '../argv/flag-spec.js';
import type { ParsedFlags } from '../argv/parsed-flags.js';
import { tabwriteRows } from './tabwriter.js';

/** rkt's `--format` values: empty for the table, `json` on one line, `json-pretty` indented with tabs. */
export const OUTPUT_FORMATS = ['', 'json', 'json-pretty'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The flags every listing command (`list`, `image list`, `status`...) declares, as rkt's did. */
export const LISTING_FLAGS: readonly FlagSpec[] = [
  flag.bool('no-legend', 'suppress a legend with the list'),
  flag.bool('full', 'use long output format'),
  flag.string(
    'format',
    "choose the output format, allowed format includes 'json', 'json-pretty'. If empty, then the result is printed as key value pairs",
    { choices: OUTPUT_FORMATS, goType: 'value' },
  ),
];

export interface ListingOptions {
  readonly noLegend: boolean;
  readonly full: boolean;
  readonly format: OutputFormat;
}

export function listingOptions(flags: ParsedFlags): ListingOptions {
  return {
    noLegend: flags.bool('no-legend'),
    full: flags.bool('full'),
    // The flag's `choices` already refused anything else.
    format: flags.string('format') as OutputFormat,
  };
}

export interface Column<Row> {
  /** The legend, upper case in rkt (`UUID`, `IMAGE NAME`). */
  readonly header: string;
  /** The cell; `full` asks for untruncated IDs and exact times and sizes. */
  readonly cell: (row: Row, full: boolean) => string;
}

/**
 * A listing as rkt printed it: a tab-aligned table with a legend line (unless `noLegend`), or the
 * JSON of `json(rows)` for `--format=json|json-pretty`. Returns the text, newline-terminated.
 */
export function renderListing<Row>(
  rows: readonly Row[],
  columns: readonly Column<Row>[],
  options: ListingOptions & { readonly json: (rows: readonly Row[]) => unknown },
): string {
  if (options.format === 'json') return `${JSON.stringify(options.json(rows))}\n`;
  if (options.format === 'json-pretty') return `${JSON.stringify(options.json(rows), null, '\t')}\n`;
  const lines: string[][] = [];
  if (!options.noLegend) lines.push(columns.map((c) => cleanCell(c.header)));
  for (const row of rows) lines.push(columns.map((c) => cleanCell(c.cell(row, options.full))));
  return lines.length === 0 ? '' : `${tabwriteRows(lines)}\n`;
}

/** A tab or newline inside a cell would break the columns. */
function cleanCell(s: string): string {
  return s.includes('\t') || s.includes('\n') ? s.replace(/[\t\n]/g, ' ') : s;
}

/** rkt's short image ID: `sha512-` and the first 12 hex digits, unless `full`. */
export function shortImageId(id: string, full = false): string {
  const dash = id.indexOf('-');
  const end = dash + 13;
  return full || dash <= 0 || end >= id.length ? id : id.slice(0, end);
}
