import { describe, expect, it } from 'vitest';
import { parseArgv } from '../src/argv/parse.js';
import type { CommandSpec } from '../src/command.js';
import { LISTING_FLAGS, listingOptions, renderListing, shortImageId, type Column } from '../src/output/listing.js';

interface Image {
  id: string;
  name: string;
  size: number;
}

const images: Image[] = [
  { id: 'sha512-0123456789abcdef0123', name: 'coreos.com/etcd:v3.5.0', size: 20_971_520 },
  { id: 'sha512-fedcba9876543210fedc', name: 'example.com/a', size: 1024 },
];

const columns: Column<Image>[] = [
  { header: 'ID', cell: (i, full) => shortImageId(i.id, full) },
  { header: 'NAME', cell: (i) => i.name },
  { header: 'SIZE', cell: (i, full) => (full ? String(i.size) : `${Math.round(i.size / 1048576)}MiB`) },
];

const json = (rows: readonly Image[]) => rows.map((r) => ({ id: r.id, name: r.name, size: r.size }));
const listCommand: CommandSpec = { name: 'list', summary: 'list', flags: LISTING_FLAGS, load: async () => ({ run: () => 0 }) };
const options = (...argv: string[]) =>
  listingOptions(parseArgv(['list', ...argv], { name: 'rkt', summary: '', subcommands: [listCommand] }, []).flags);

describe('renderListing', () => {
  it('prints a legend and tab-aligned rows with short IDs by default', () => {
    expect(renderListing(images, columns, { ...options(), json })).toBe(
      'ID\t\t\tNAME\t\t\tSIZE\n' +
        'sha512-0123456789ab\tcoreos.com/etcd:v3.5.0\t20MiB\n' +
        'sha512-fedcba987654\texample.com/a\t\t0MiB\n',
    );
  });

  it('drops the legend with --no-legend and shows full values with --full', () => {
    const out = renderListing(images, columns, { ...options('--no-legend', '--full'), json });
    expect(out.split('\n')[0]).toBe('sha512-0123456789abcdef0123\tcoreos.com/etcd:v3.5.0\t20971520');
    expect(out).not.toContain('NAME');
  });

  it('prints JSON on one line or indented with tabs, ignoring the table options', () => {
    expect(renderListing(images, columns, { ...options('--format=json', '--no-legend'), json })).toBe(
      `${JSON.stringify(json(images))}\n`,
    );
    const pretty = renderListing(images, columns, { ...options('--format', 'json-pretty'), json });
    expect(JSON.parse(pretty)).toEqual(json(images));
    expect(pretty).toContain('\n\t{\n\t\t"id": "sha512-0123456789abcdef0123",');
  });

  it('prints only the legend for no rows, and nothing at all without it', () => {
    expect(renderListing([], columns, { ...options(), json })).toBe('ID\tNAME\tSIZE\n');
    expect(renderListing([], columns, { ...options('--no-legend'), json })).toBe('');
    expect(renderListing([], columns, { ...options('--format=json'), json })).toBe('[]\n');
  });

  it('keeps a tab or newline inside a cell from breaking the columns', () => {
    const odd = [{ id: 'x', name: 'a\tb\nc', size: 0 }];
    expect(renderListing(odd, columns, { ...options('--no-legend'), json })).toBe('x\ta b c\t0MiB\n');
  });
});

describe('shortImageId', () => {
  it("keeps rkt's short form: the algorithm and 12 hex digits", () => {
    expect(shortImageId('sha512-0123456789abcdef0123')).toBe('sha512-0123456789ab');
    expect(shortImageId('sha512-0123456789abcdef0123', true)).toBe('sha512-0123456789abcdef0123');
    expect(shortImageId('sha512-0123')).toBe('sha512-0123');
    expect(shortImageId('nodash')).toBe('nodash');
  });
});
