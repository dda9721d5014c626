import { describe, expect, it } from 'vitest';
import { formatDuration, parseDurationFlag } from '../src/argv/duration.js';
import { configEntries, type EffectiveConfig } from '../src/commands/config-entries.js';

const base: EffectiveConfig = {
  auth: new Map(),
  dockerAuth: new Map(),
  data: '/var/lib/rkt',
  stage1Images: '/usr/lib/rkt/stage1-images',
  stage1: { location: '/opt/stage1.aci' },
  eventDefaults: { subjectPrefix: 'rkt', timeoutMs: 2000 },
};

describe('configEntries', () => {
  it('one auth entry per domain, sorted, one dockerAuth entry per registry, then paths and stage1, keys in rkt order', () => {
    const doc = configEntries({
      ...base,
      auth: new Map([
        ['foo.com', { type: 'basic', credentials: { user: 'u', password: 'p' } }],
        ['bar.com', { type: 'oauth', credentials: { token: 't' } }],
      ]),
      dockerAuth: new Map([
        ['registry-1.docker.io', { user: 'hub', password: 'hp' }],
        ['quay.io', { user: 'q', password: 'qp' }],
      ]),
      stage1: { name: 'example.com/stage1', version: '1.0', location: '/opt/stage1.aci' },
    });
    expect(JSON.stringify(doc)).toBe(
      '{"stage0":[' +
        '{"rktVersion":"v1","rktKind":"auth","domains":["bar.com"],"type":"oauth","credentials":{"token":"t"}},' +
        '{"rktVersion":"v1","rktKind":"auth","domains":["foo.com"],"type":"basic","credentials":{"user":"u","password":"p"}},' +
        '{"rktVersion":"v1","rktKind":"dockerAuth","registries":["quay.io"],"credentials":{"user":"q","password":"qp"}},' +
        '{"rktVersion":"v1","rktKind":"dockerAuth","registries":["registry-1.docker.io"],"credentials":{"user":"hub","password":"hp"}},' +
        '{"rktVersion":"v1","rktKind":"paths","data":"/var/lib/rkt","stage1-images":"/usr/lib/rkt/stage1-images"},' +
        '{"rktVersion":"v1","rktKind":"stage1","name":"example.com/stage1","version":"1.0","location":"/opt/stage1.aci"}' +
        ']}',
    );
  });

  it('leaves out the stage1 fields that have no value, and prints no events entry without a bus', () => {
    expect(configEntries({ ...base, stage1: { name: 'example.com/s' } }).stage0.slice(1)).toEqual([
      { rktVersion: 'v1', rktKind: 'stage1', name: 'example.com/s' },
    ]);
    expect(configEntries({ ...base, stage1: {} }).stage0.map((e) => e.rktKind)).toEqual(['paths', 'stage1']);
    expect(JSON.stringify(configEntries({ ...base, stage1: {} }).stage0[1])).toBe('{"rktVersion":"v1","rktKind":"stage1"}');
  });

  it('an events entry with the bus defaults filled in and the credentials as configured', () => {
    const plain = configEntries({ ...base, events: { servers: ['nats://127.0.0.1:4222'] } }).stage0.at(-1);
    expect(JSON.stringify(plain)).toBe('{"rktVersion":"v1","rktKind":"events","nats":{"servers":["nats://127.0.0.1:4222"],"subjectPrefix":"rkt","timeout":"2s"}}');
    const full = configEntries({
      ...base,
      events: { servers: ['tls://a:4222', 'tls://b:4222'], subjectPrefix: 'site', user: 'u', password: 'p', token: 't', caFile: '/etc/ca.pem', timeoutMs: 90_500 },
    }).stage0.at(-1);
    expect(JSON.stringify(full)).toBe(
      '{"rktVersion":"v1","rktKind":"events","nats":{"servers":["tls://a:4222","tls://b:4222"],"subjectPrefix":"site","user":"u","password":"p","token":"t","caFile":"/etc/ca.pem","timeout":"1m30.5s"}}',
    );
  });
});

describe('formatDuration', () => {
  it("writes Go's time.Duration.String, which parseDurationFlag reads back", () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [0.000_5, '500ns'],
      [0.1, '100us'],
      [0.001_5, '1.5us'],
      [1.5, '1.5ms'],
      [500, '500ms'],
      [2000, '2s'],
      [1500, '1.5s'],
      [60_000, '1m0s'],
      [90_000, '1m30s'],
      [3_600_000, '1h0m0s'],
      [3_723_004, '1h2m3.004s'],
      [1_800_000, '30m0s'],
      [86_400_000, '24h0m0s'],
    ];
    for (const [ms, text] of cases) {
      expect(formatDuration(ms), text).toBe(text);
      expect(parseDurationFlag('timeout', text), text).toBeCloseTo(ms, 9);
    }
  });
});
