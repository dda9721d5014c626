import { describe, expect, it } from 'vitest';
import { tabwrite } from '../src/output/tabwriter.js';

describe('tabwrite (Go text/tabwriter)', () => {
  it("matches Go's documented output for a tab stop of 8 padded with tabs", () => {
    // text/tabwriter ExampleWriter_Init: Init(w, 0, 8, 0, '\t', 0).
    const text = 'a\tb\tc\td\t.\n123\t12345\t1234567\t123456789\t.\n';
    expect(tabwrite(text, { minWidth: 0, tabWidth: 8, padding: 0, padChar: '\t' })).toBe(
      'a\tb\tc\td\t\t.\n123\t12345\t1234567\t123456789\t.\n',
    );
  });

  it("pads with as many tabs as reach the column's tab stop (rkt's settings)", () => {
    // Column 0 is 10 + 1 padding wide, rounded up to 16: "a" needs two tabs, the long cell one.
    expect(tabwrite('a\tx\nabcdefghij\ty\n')).toBe('a\t\tx\nabcdefghij\ty\n');
  });

  it('aligns a table shaped like `rkt list` on tab stops of 8 (rkt\'s settings)', () => {
    // Each column is its widest cell plus one, rounded up to a tab stop: UUID 9 -> 16, IMAGE NAME 26 -> 32.
    const cells = [
      ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS'],
      ['5bc080ca', 'redis', 'quay.io/quay/redis:latest', 'running', '2 minutes ago', '41 seconds ago', 'default:ip4=172.16.28.7'],
    ];
    expect(tabwrite(cells.map((r) => r.join('\t')).join('\n') + '\n')).toBe(
      'UUID\t\tAPP\tIMAGE NAME\t\t\tSTATE\tCREATED\t\tSTARTED\t\tNETWORKS\n' +
        '5bc080ca\tredis\tquay.io/quay/redis:latest\trunning\t2 minutes ago\t41 seconds ago\tdefault:ip4=172.16.28.7\n',
    );
  });

  it('sizes a column per block of adjacent lines, as Go does', () => {
    // Go's Example_elastic without AlignRight/Debug: the b's and the d's are different columns.
    const text = 'a\tb\tc\naa\tbb\tcc\naaa\t\naaaa\tdddd\teeee\n';
    expect(tabwrite(text, { minWidth: 0, tabWidth: 0, padding: 1, padChar: '.' })).toBe(
      'a....b..c\naa...bb.cc\naaa..\naaaa.dddd.eeee\n',
    );
  });

  it('ends every block at a line without tabs', () => {
    const text = 'a\tb\n\nlonger cell\tc\n';
    expect(tabwrite(text, { padding: 1, padChar: ' ' })).toBe('a b\n\nlonger cell c\n');
  });

  it('counts code points, not UTF-16 units', () => {
    expect(tabwrite('é\tx\nab\ty\n', { padding: 1, padChar: ' ' })).toBe('é  x\nab y\n');
    expect(tabwrite('😀\tx\nab\ty\n', { padding: 1, padChar: ' ' })).toBe('😀  x\nab y\n');
  });

  it('keeps text without a final newline as it is', () => {
    expect(tabwrite('a\tb\ncc\td', { padding: 1, padChar: ' ' })).toBe('a  b\ncc d');
    expect(tabwrite('')).toBe('');
  });

  it('applies the minimal width', () => {
    expect(tabwrite('a\tb\n', { minWidth: 4, padding: 1, padChar: '-' })).toBe('a---b\n');
  });
});
