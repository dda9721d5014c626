/** One `<meta name="ac-..." content="prefix uri">` tag of a discovery page. */
export interface AcMeta {
  readonly name: string;
  readonly prefix: string;
  readonly uri: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ent.toLowerCase()] ?? whole;
  });
}

const ATTR_RE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

/**
 * The `ac-*` meta tags of an HTML page, as appc's extractACMeta reads them: any `<meta>` start tag
 * anywhere (comments, script and style contents excluded), `content` split at the first space into a
 * prefix and a URI, tags without both ignored.
 */
export function extractAcMeta(html: string): AcMeta[] {
  const text = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, '')
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, '');
  const out: AcMeta[] = [];
  for (const tag of text.matchAll(/<meta\b([^>]*)>/gi)) {
    let name = '';
    let content: string | undefined;
    for (const a of (tag[1] ?? '').matchAll(ATTR_RE)) {
      const key = (a[1] ?? '').toLowerCase();
      const value = decodeEntities(a[2] ?? a[3] ?? a[4] ?? '');
      if (key === 'name') name = value;
      else if (key === 'content') content = value;
    }
    if (!name.startsWith('ac-') || content === undefined) continue;
    const trimmed = content.trim();
    const sp = trimmed.search(/ /);
    if (sp < 0) continue;
    const prefix = trimmed.slice(0, sp);
    const uri = trimmed.slice(sp + 1).trim();
    if (prefix === '' || uri === '') continue;
    out.push({ name, prefix, uri });
  }
  return out;
}
