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

// The reference parses the URL and checks the scheme; a full URL parser would also refuse `http://`, which
// the reference accepts, so the rule stays at the scheme plus no whitespace.
function isHttpUrl(s: string): boolean {
  return /^https?:\S*$/i.test(s);
}

/** aci.md's recognized annotations whose values have a format. */
const WELL_KNOWN: Readonly<Record<string, { check: (v: string) => boolean; rule: string }>> = {
  created: { check: isTimestamp, rule: 'must be an RFC 3339 timestamp' },
  homepage: { check: isHttpUrl, rule: 'must be a URL with scheme http or https' },
  documentation: { check: isHttpUrl, rule: 'must be a URL with scheme http or https' },
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

export function getAnnotation(annotations: Annotations | undefined, name: string): string | undefined {
  return annotations?.find((a) => a.name === name)?.value;
}
