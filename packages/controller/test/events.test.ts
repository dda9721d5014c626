import { describe, expect, it } from 'vitest';
import { createInProcessBus, podEvent, podEventProblem, podEventSchema, type PodEvent } from '../src/index.js';

describe('in-process event bus', () => {
  it('delivers envelopes to subscribers whose prefix matches the topic, in order', () => {
    const bus = createInProcessBus();
    const pods: PodEvent[] = [];
    const all: string[] = [];
    bus.subscribe('pod/', (e) => pods.push(e));
    const off = bus.subscribe('', (e) => all.push(e.topic));
    bus.publish(podEvent('pod/prepared', 'u1', { path: '/x' }));
    bus.publish(podEvent('app/exited', 'u1', { app: 'a', exitStatus: 7 }));
    off();
    bus.publish(podEvent('pod/exited', 'u1', { exitStatus: 7 }));
    expect(pods.map((e) => e.topic)).toEqual(['pod/prepared', 'pod/exited']);
    expect(all).toEqual(['pod/prepared', 'app/exited']);
    const e = pods[0]!;
    expect(podEventSchema.parse(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(Date.parse(e.timestamp)).not.toBeNaN();
    expect(e).toMatchObject({ podUuid: 'u1', payload: { path: '/x' } });
  });

  it('a throwing subscriber does not fail the publisher nor starve the others', () => {
    const bus = createInProcessBus();
    const seen: string[] = [];
    bus.subscribe('', () => {
      throw new Error('boom');
    });
    bus.subscribe('', (e) => seen.push(e.topic));
    expect(() => bus.publish(podEvent('pod/running', 'u2'))).not.toThrow();
    expect(seen).toEqual(['pod/running']);
  });
});

describe('podEventProblem', () => {
  it('accepts and refuses what podEventSchema does', () => {
    const good = { timestamp: '2026-01-01T00:00:00.000Z', topic: 'pod/exited', podUuid: 'u', payload: { exitStatus: 0 } };
    const values: Record<string, unknown[]> = {
      timestamp: [good.timestamp, '2026-01-01T00:00:00Z', '2026-01-01T01:00:00.5+01:00', 'x', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00Z\n\u001b[2K', 7, undefined, null],
      topic: ['pod/exited', 'app/started', 'pod/', 'pods/exited', 3, undefined],
      podUuid: ['u', '0b6c0cd5-6a43-4b83-9a4b-0d2b6f8f3c01', '', 'a.b', 'a b', 'a\n', '*', 1, undefined],
      payload: [{}, { a: [1] }, [], null, 'x', undefined],
    };
    let compared = 0;
    for (const [field, options] of Object.entries(values)) {
      for (const value of options) {
        const candidate: Record<string, unknown> = { ...good, [field]: value };
        if (value === undefined) delete candidate[field];
        const schemaOk = podEventSchema.safeParse(candidate).success;
        const problem = podEventProblem(candidate);
        expect(problem === undefined, `${field}=${JSON.stringify(value)}: ${problem}`).toBe(schemaOk);
        if (problem !== undefined) expect(problem.startsWith(`${field}: `)).toBe(true);
        compared++;
      }
    }
    for (const whole of [null, [], 'x', 1]) {
      expect(podEventProblem(whole)).toBe('(the event): must be an object');
      expect(podEventSchema.safeParse(whole).success).toBe(false);
    }
    expect(compared).toBe(30);
  });
});
