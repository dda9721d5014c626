import { describe, expect, it } from 'vitest';
import { discoveryUrl, endpointsFromPage, extractAcMeta, parseAppName, withHostDefaults } from '../src/index.js';

describe('extractAcMeta', () => {
  it('reads ac- meta tags in any attribute order and quoting, skipping comments and malformed tags', () => {
    const html = `<html><head>
      <meta content="example.com https://s.example.com/{name}.{ext}" name="ac-discovery">
      <META NAME='ac-discovery-pubkeys' CONTENT='example.com https://example.com/keys.asc'/>
      <!-- <meta name="ac-discovery" content="example.com https://commented.out/{ext}"> -->
      <meta name="ac-discovery" content="onlyprefix">
      <meta name="description" content="example.com not-ac">
      <meta name=ac-discovery content="example.com   https://x.example.com/a?b=1&amp;c={ext}  ">
      <script>var s = '<meta name="ac-discovery" content="example.com https://script/{ext}">';</script>
    </head></html>`;
    expect(extractAcMeta(html)).toEqual([
      { name: 'ac-discovery', prefix: 'example.com', uri: 'https://s.example.com/{name}.{ext}' },
      { name: 'ac-discovery-pubkeys', prefix: 'example.com', uri: 'https://example.com/keys.asc' },
      { name: 'ac-discovery', prefix: 'example.com', uri: 'https://x.example.com/a?b=1&c={ext}' },
    ]);
  });
});

describe('endpointsFromPage', () => {
  const page = (metas: string[]) => `<html><head>${metas.join('\n')}</head></html>`;
  const app = withHostDefaults(parseAppName('example.com/app:1.0.0,channel=beta'));

  it('fills {name} {version} {os} {arch} {ext} and any label; skips templates left unfilled', () => {
    const eps = endpointsFromPage(page([
      '<meta name="ac-discovery" content="example.com https://s.example.com/{os}/{arch}/{name}-{version}-{channel}.{ext}">',
      '<meta name="ac-discovery" content="example.com https://s.example.com/{name}-{unknown}.{ext}">',
      '<meta name="ac-discovery" content="example.com https://s.example.com/no-ext">',
      '<meta name="ac-discovery" content="other.com https://other.com/{name}.{ext}">',
      '<meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">',
    ]), app);
    expect(eps.aciEndpoints).toEqual([{
      aci: `https://s.example.com/linux/${app.labels[3]?.value}/example.com/app-1.0.0-beta.aci`,
      asc: `https://s.example.com/linux/${app.labels[3]?.value}/example.com/app-1.0.0-beta.aci.asc`,
    }]);
    expect(eps.keys).toEqual(['https://example.com/pubkeys.gpg']);
  });

  it('uses "latest" when no version is asked for, and matches prefixes as strings', () => {
    const eps = endpointsFromPage(page(['<meta name="ac-discovery" content="example.com/ap https://s/{name}-{version}.{ext}">']),
      withHostDefaults(parseAppName('example.com/app')));
    expect(eps.aciEndpoints[0]?.aci).toBe('https://s/example.com/app-latest.aci');
  });
});

describe('discoveryUrl', () => {
  it('is https://{name}?ac-discovery=1, with an optional port for tests', () => {
    expect(discoveryUrl('example.com/a/b', 'https').href).toBe('https://example.com/a/b?ac-discovery=1');
    expect(discoveryUrl('example.com', 'https', 8443).href).toBe('https://example.com:8443/?ac-discovery=1');
    expect(discoveryUrl('example.com/x', 'http').href).toBe('http://example.com/x?ac-discovery=1');
  });
});
