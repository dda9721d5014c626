import { describe, expect, it } from 'vitest';
import { checkHostname } from '../src/commands/pods/flags.js';

describe('--hostname', () => {
  it('takes a DNS name of at most 64 characters, and says what is wrong with anything else', () => {
    expect(checkHostname('web')).toBeUndefined();
    expect(checkHostname('web-1.example.com')).toBeUndefined();
    expect(checkHostname('a'.repeat(64))).toBeUndefined();
    expect(checkHostname('')).toBe('must be 1 to 64 characters long');
    expect(checkHostname('a'.repeat(65))).toBe('must be 1 to 64 characters long');
    for (const bad of ['bad_name', '-web', 'web-', 'a..b', 'web.', 'we b', 'x/y']) {
      expect(checkHostname(bad), bad).toBe('must be DNS labels (letters, digits, inner hyphens) joined by dots');
    }
  });
});
