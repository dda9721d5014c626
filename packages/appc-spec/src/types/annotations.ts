import { z } from 'zod';
import { acIdentifierSchema } from './ac-identifier.js';
import { appcObject, checkUnique } from './common.js';
import { isTimestamp } from './timestamp.js';

export const annotationSchema = appcObject(
  z.object({
    name: acIdentifierSchema,
    value: z.string({ message: 'must be a string' }),
  }),
);
export type Annotation = z.infer<typeof annotationSchema>;

const BAD_ESCAPE_RE = /%(?![0-9A-Fa-f]{2})/;
const USERINFO_RE = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;
const HOST_RE = /^[A-Za-z0-9\-._~!$&'()*+,;="<>]*$/;
const PORT_RE = /^(?::\d*)?$/;

/**
 * The reference accepts what Go's `url.Parse` accepts with an http(s) scheme. A WHATWG URL parser differs
 * both ways (it refuses `http://`, accepts `http://%41/`), so this mirrors Go's checks instead: no control
 * characters, valid %-escapes outside the query, a well-formed host and port. Whitespace is refused too.
 */
function isHttpUrl(s: string): boolean {
  const scheme = /^https?:/i.exec(s);
  if (scheme === null || /[\s\u0000-\u001f\u007f]/.test(s)) return false;
  let rest = s.slice(scheme[0].length);
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    if (BAD_ESCAPE_RE.test(rest.slice(hash + 1))) return false;
    rest = rest.slice(0, hash);
  }
  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  if (!rest.startsWith('//')) return !BAD_ESCAPE_RE.test(rest);
  const slash = rest.indexOf('/', 2);
  const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const host = authority.slice(at + 1);
  if (!USERINFO_RE.test(userinfo) || BAD_ESCAPE_RE.test(userinfo) || BAD_ESCAPE_RE.test(path)) return false;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 && PORT_RE.test(host.slice(end + 1));
  }
  const colon = host.lastIndexOf(':');
  return HOST_RE.test(colon < 0 ? host : host.slice(0, colon)) && PORT_RE.test(colon < 0 ? '' : host.slice(colon));
}

/** aci.md's recognized annotations whose values have a format. */
const WELL_KNOWN: Readonly<Record<string, { check: (v: string) => boolean; rule: string }>> = {
  created: { check: isTimestamp, rule: 'must be an RFC 3339 timestamp' },
  homepage: { check: isHttpUrl, rule: 'must be a valid http or https URL' },
  documentation: { check: isHttpUrl, rule: 'must be a valid http or https URL' },
};

export const annotationsSchema = z
  .array(annotationSchema, { message: 'must be an array' })
  .superRefine((annotations, ctx) => {
    checkUnique(annotations, (a) => a.name, ctx, 'annotation');
    annotations.forEach((a, i) => {
      const known = Object.hasOwn(WELL_KNOWN, a.name) ? WELL_KNOWN[a.name] : undefined;
      if (known !== undefined && !known.check(a.value)) {
        ctx.addIssue({ code: 'custom', message: `annotation "${a.name}" ${known.rule}`, path: [i, 'value'] });
      }
    });
  });
export type Annotations = z.infer<typeof annotationsSchema>;

export { getAnnotation } from './annotation-lookup.js';
