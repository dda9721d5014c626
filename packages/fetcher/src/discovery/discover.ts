import { FetchError, firstLine } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { AppName } from '../image-string.js';
import { extractAcMeta } from './meta.js';
import { renderTemplate, templateVars } from './template.js';

export interface AciEndpoint {
  readonly aci: string;
  readonly asc: string;
}

export interface Endpoints {
  readonly aciEndpoints: AciEndpoint[];
  readonly keys: string[];
}

export interface DiscoveryOptions {
  /** Port for the discovery URL (`https://{name}?ac-discovery=1`); default the scheme's. Tests use it. */
  readonly port?: number;
  /** With `--insecure-options=http`, plain http is tried when https fails, as appc does. */
  readonly allowHttp?: boolean;
}

export interface FailedAttempt {
  readonly prefix: string;
  readonly error: string;
}

/** The discovery URL of one prefix of the name: `https://{prefix}?ac-discovery=1`. */
export function discoveryUrl(prefix: string, scheme: 'https' | 'http', port?: number): URL {
  const slash = prefix.indexOf('/');
  const host = slash < 0 ? prefix : prefix.slice(0, slash);
  const path = slash < 0 ? '' : prefix.slice(slash);
  const url = new URL(`${scheme}://${host}${port === undefined ? '' : `:${port}`}${path}`);
  url.search = 'ac-discovery=1';
  return url;
}

async function fetchPage(http: HttpClient, prefix: string, opts: DiscoveryOptions): Promise<string> {
  const tryScheme = async (scheme: 'https' | 'http'): Promise<string> => {
    const url = discoveryUrl(prefix, scheme, opts.port);
    const res = await http.getBytes(url);
    if (res.status !== 200) throw new FetchError('FETCH_HTTP', `${url.href}: expected a 200 OK got ${res.status}`, { subject: url.href });
    return res.body.toString('utf8');
  };
  try {
    return await tryScheme('https');
  } catch (err) {
    if (opts.allowHttp !== true) throw err;
    return tryScheme('http');
  }
}

/** The endpoints one discovery page declares for `app` (prefix-matched; incomplete templates skipped). */
export function endpointsFromPage(html: string, app: AppName): Endpoints {
  const vars = templateVars(app);
  const out: Endpoints = { aciEndpoints: [], keys: [] };
  for (const m of extractAcMeta(html)) {
    if (!app.name.startsWith(m.prefix)) continue;
    if (m.name === 'ac-discovery') {
      // discovery.md: templates must contain {ext}; without it image and signature would be one URL.
      if (!m.uri.includes('{ext}')) continue;
      const filled = renderTemplate(m.uri, vars).text;
      const aci = renderTemplate(filled, [['ext', 'aci']]);
      const asc = renderTemplate(filled, [['ext', 'aci.asc']]);
      if (!aci.complete || !asc.complete) continue;
      out.aciEndpoints.push({ aci: aci.text, asc: asc.text });
    } else if (m.name === 'ac-discovery-pubkeys') {
      out.keys.push(m.uri);
    }
  }
  return out;
}

/**
 * appc meta discovery: tries the full name, then each parent path, until a page yields what `want`
 * asks for (image templates, or public keys). Every page that answered adds its endpoints; failures are
 * kept to explain a miss.
 */
export async function discover(http: HttpClient, app: AppName, want: 'aci' | 'keys', opts: DiscoveryOptions = {}): Promise<{ endpoints: Endpoints; attempts: FailedAttempt[] }> {
  const parts = app.name.split('/');
  const endpoints: Endpoints = { aciEndpoints: [], keys: [] };
  const attempts: FailedAttempt[] = [];
  for (let end = parts.length; end > 0; end--) {
    const prefix = parts.slice(0, end).join('/');
    let html: string;
    try {
      html = await fetchPage(http, prefix, opts);
    } catch (err) {
      if (err instanceof FetchError && err.code === 'FETCH_INSECURE') throw err;
      attempts.push({ prefix, error: firstLine(err) });
      continue;
    }
    const eps = endpointsFromPage(html, app);
    endpoints.aciEndpoints.push(...eps.aciEndpoints);
    endpoints.keys.push(...eps.keys);
    if (want === 'aci' ? endpoints.aciEndpoints.length > 0 : endpoints.keys.length > 0) break;
    attempts.push({ prefix, error: want === 'aci' ? 'no usable ac-discovery meta tag' : 'no ac-discovery-pubkeys meta tag' });
  }
  return { endpoints, attempts };
}

/** The one-line failure when discovery found nothing: every prefix tried and why it failed. */
export function discoveryFailure(app: AppName, what: string, attempts: readonly FailedAttempt[]): FetchError {
  const detail = attempts.map((a) => `${a.prefix}: ${a.error}`).join('; ');
  return new FetchError('FETCH_DISCOVERY', `discovery of ${what} for ${app.name} failed (${detail})`, { subject: app.name });
}
