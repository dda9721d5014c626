import { describe, expect, it } from 'vitest';
import { newPodUuid } from '../src/pod-uuid.js';

describe('newPodUuid', () => {
  it('makes random version 4 UUIDs, as rkt names pods', () => {
    const uuids = Array.from({ length: 2000 }, () => newPodUuid());
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(uuids.length);
    // Every hex digit but the version's varies (the variant's takes 8, 9, a or b): random bytes, not a counter.
    const varying = [...Array(36).keys()].filter((i) => new Set(uuids.map((u) => u[i])).size > 1);
    expect(varying).toHaveLength(31);
    expect(varying).not.toContain(14);
  });
});
