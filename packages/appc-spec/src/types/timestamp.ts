import { z } from 'zod';

// RFC 3339 section 5.6 date-time, with the "T" the spec insists on. Go's time.Parse(RFC3339) is the
// reference: upper-case T and Z, field ranges checked.
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

// Proleptic Gregorian, as Go's time package; Date.UTC would read years 0-99 as 1900-1999.
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function isTimestamp(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > 64) return false;
  const m = RFC3339_RE.exec(s);
  if (m === null) return false;
  const [year, month, day, hour, min, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59) return false;
  if (day > daysInMonth(year, month)) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

export const timestampSchema = z
  .string({ message: 'must be a string' })
  .refine(isTimestamp, { message: 'must be an RFC 3339 timestamp such as "2015-05-18T13:49:28.351729952-04:00"' });
export type Timestamp = z.infer<typeof timestampSchema>;
