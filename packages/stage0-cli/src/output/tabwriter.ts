/**
 * Go's text/tabwriter (the elastic tabstops rkt printed every listing with), for complete text.
 * Cells are tab-terminated; a column block is a run of adjacent lines that have a cell in that
 * column, and each block is as wide as its widest cell plus `padding`. A line without any tab ends
 * every block, as in Go, so a legend after a blank line does not widen the table above it.
 */
export interface TabwriterOptions {
  /** Minimal cell width including padding. */
  readonly minWidth?: number;
  /** Width of a tab character, used when padding with tabs. */
  readonly tabWidth?: number;
  /** Added to the widest cell of a column. */
  readonly padding?: number;
  /** `'\t'` pads with tabs (rkt's choice), any other single character pads with that character. */
  readonly padChar?: string;
}

/** The settings of rkt's `getTabOutWithWriter`: `tabwriter.Init(w, 0, 8, 1, '\t', 0)`. */
export const RKT_TABWRITER: Required<TabwriterOptions> = { minWidth: 0, tabWidth: 8, padding: 1, padChar: '\t' };

interface Cell {
  readonly text: string;
  readonly width: number;
}

export function tabwrite(text: string, options: TabwriterOptions = RKT_TABWRITER): string {
  if (text === '') return '';
  const opts = { ...RKT_TABWRITER, ...options };
  const lines = text.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  const out: string[] = [];
  let block: Cell[][] = [];
  for (const line of lines) {
    const cells = line.split('\t').map((t) => ({ text: t, width: runeCount(t) }));
    block.push(cells);
    if (cells.length === 1) {
      out.push(...formatBlock(block, opts));
      block = [];
    }
  }
  out.push(...formatBlock(block, opts));
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}

function formatBlock(lines: Cell[][], opts: Required<TabwriterOptions>): string[] {
  const rendered = lines.map(() => '');
  const widths: number[] = [];
  // Go's recursive `format`: column `widths.length` is sized separately for each block of adjacent
  // lines that have a cell there; lines outside any deeper block are written with the widths so far.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let written = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= cellsOf(lines, i).length - 1) continue;
      for (; written < i; written++) rendered[written] = renderLine(cellsOf(lines, written), widths, opts);
      let width = opts.minWidth;
      let end = i;
      for (; end < line1; end++) {
        const cells = cellsOf(lines, end);
        if (column >= cells.length - 1) break;
        width = Math.max(width, (cells[column] as Cell).width + opts.padding);
      }
      widths.push(width);
      format(i, end);
      widths.pop();
      written = end;
      i = end - 1;
    }
    for (; written < line1; written++) rendered[written] = renderLine(cellsOf(lines, written), widths, opts);
  };
  format(0, lines.length);
  return rendered;
}

function cellsOf(lines: Cell[][], i: number): Cell[] {
  return lines[i] as Cell[];
}

function renderLine(cells: readonly Cell[], widths: readonly number[], opts: Required<TabwriterOptions>): string {
  let s = '';
  cells.forEach((cell, j) => {
    s += cell.text;
    if (j < cells.length - 1) s += padding(cell.width, widths[j] ?? 0, opts);
  });
  return s;
}

function padding(textWidth: number, cellWidth: number, opts: Required<TabwriterOptions>): string {
  if (opts.padChar === '\t') {
    if (opts.tabWidth === 0) return '';
    // A tab-padded cell ends on a tab stop, so its width rounds up to a multiple of tabWidth.
    const rounded = Math.ceil(cellWidth / opts.tabWidth) * opts.tabWidth;
    return '\t'.repeat(Math.ceil((rounded - textWidth) / opts.tabWidth));
  }
  return opts.padChar.repeat(Math.max(0, cellWidth - textWidth));
}

/** Go counts runes (code points), not UTF-16 units or display columns. */
function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
