import { describe, expect, it } from 'vitest';
import { createInProcessBus, podEvent, podEventSchema, type PodEvent } from '../src/index.js';

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
