import { ValidationError } from '../errors.js';
import { quote } from '../types/common.js';

/**
 * Reads `acKind` first, like the reference does, so a pod manifest handed to the image parser (or a
 * document of no known kind) gets one clear error instead of a list of unrelated field errors.
 */
export function checkKind(value: unknown, expected: 'ImageManifest' | 'PodManifest', source: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(source, [{ path: '', rule: `must be a JSON object (an ${expected})` }]);
  }
  const kind = (value as Record<string, unknown>).acKind;
  if (kind === undefined || kind === null) {
    throw new ValidationError(source, [{ path: 'acKind', rule: `is required (must be "${expected}")` }]);
  }
  if (kind !== expected) {
    const got = typeof kind === 'string' ? quote(kind) : `a ${typeof kind}`;
    throw new ValidationError(source, [{ path: 'acKind', rule: `must be "${expected}", got ${got}` }]);
  }
}
