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

/** A line's cells; `widths[j]` is the rune count of `texts[j]`, known for every cell but the last. */
interface Line {
  readonly texts: readonly string[];
  readonly widths: readonly number[];
}

export function tabwrite(text: string, options: TabwriterOptions = RKT_TABWRITER): string {
  if (text === '') return '';
  const lines = text.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  return tabwriteRows(lines.map((l) => l.split('\t')), options) + (endsWithNewline ? '\n' : '');
}

/**
 * `tabwrite` of rows given as cells (`rows.map((r) => r.join('\t')).join('\n')`), without the text
 * being joined and split again; no trailing newline. A listing of 1,000 images goes through here.
 */
export function tabwriteRows(rows: readonly (readonly string[])[], options: TabwriterOptions = RKT_TABWRITER): string {
  const opts = options === RKT_TABWRITER ? RKT_TABWRITER : { ...RKT_TABWRITER, ...options };
  const out: string[] = [];
  let block: Line[] = [];
  for (const texts of rows) {
    const widths: number[] = [];
    // The last cell's width sizes nothing: it has no tab after it.
    for (let j = 0; j < texts.length - 1; j++) widths.push(runeCount(texts[j] as string));
    block.push({ texts, widths });
    if (texts.length === 1) {
      formatBlock(block, opts, out);
      block = [];
    }
  }
  formatBlock(block, opts, out);
  return out.join('\n');
}

function formatBlock(lines: readonly Line[], opts: Required<TabwriterOptions>, out: string[]): void {
  const rendered: string[] = new Array<string>(lines.length);
  const widths: number[] = [];
  const pad = padder(opts);
  // Go's recursive `format`: column `widths.length` is sized separately for each block of adjacent
  // lines that have a cell there; lines outside any deeper block are written with the widths so far.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let written = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= (lines[i] as Line).texts.length - 1) continue;
      for (; written < i; written++) rendered[written] = renderLine(lines[written] as Line, widths, pad);
      let width = opts.minWidth;
      let end = i;
      for (; end < line1; end++) {
        const line = lines[end] as Line;
        if (column >= line.texts.length - 1) break;
        width = Math.max(width, (line.widths[column] as number) + opts.padding);
      }
      widths.push(width);
      format(i, end);
      widths.pop();
      written = end;
      i = end - 1;
    }
    for (; written < line1; written++) rendered[written] = renderLine(lines[written] as Line, widths, pad);
  };
  format(0, lines.length);
  for (const r of rendered) out.push(r);
}

function renderLine(line: Line, widths: readonly number[], pad: (textWidth: number, cellWidth: number) => string): string {
  const { texts } = line;
  let s = '';
  const last = texts.length - 1;
  for (let j = 0; j < last; j++) s += (texts[j] as string) + pad(line.widths[j] as number, widths[j] ?? 0);
  return s + (texts[last] as string);
}

function padder(opts: Required<TabwriterOptions>): (textWidth: number, cellWidth: number) => string {
  if (opts.padChar === '\t') {
    if (opts.tabWidth === 0) return () => '';
    const tabs: string[] = [];
    return (textWidth, cellWidth) => {
      // A tab-padded cell ends on a tab stop, so its width rounds up to a multiple of tabWidth.
      const rounded = Math.ceil(cellWidth / opts.tabWidth) * opts.tabWidth;
      const n = Math.max(0, Math.ceil((rounded - textWidth) / opts.tabWidth));
      return (tabs[n] ??= '\t'.repeat(n));
    };
  }
  return (textWidth, cellWidth) => opts.padChar.repeat(Math.max(0, cellWidth - textWidth));
}

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** Go counts runes (code points), not UTF-16 units or display columns. */
function runeCount(s: string): number {
  // Almost every cell has no surrogate: one native regex scan instead of a loop that runs cold
  // (a listing counts 4,000 cells in a process that lives 0.1 s).
  if (!HIGH_SURROGATE.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A surrogate pair is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
