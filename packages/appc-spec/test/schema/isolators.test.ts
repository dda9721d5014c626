import { describe, expect, it } from 'vitest';
import {
  ValidationError,
  appIsolatorsSchema,
  formatJsonPath,
  getIsolatorValue,
  isKnownIsolator,
  parseImageManifest,
  podIsolatorsSchema,
} from '../../src/index.js';
import type { Isolator } from '../../src/index.js';

const manifestWith = (isolators: unknown[]) =>
  JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/app',
    app: { exec: ['/bin/app'], user: '0', group: '0', isolators },
  });

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  return expect.unreachable('expected a ValidationError');
}

describe('isolators', () => {
  it('types known values by name and gives the last one of a name', () => {
    const m = parseImageManifest(
      manifestWith([
        { name: 'resource/memory', value: { limit: '1G' } },
        { name: 'os/linux/no-new-privileges', value: true },
        { name: 'resource/memory', value: { request: '512Mi', limit: '2G' } },
      ]),
    );
    const memory = getIsolatorValue(m.app?.isolators, 'resource/memory');
    expect(memory).toEqual({ request: '512Mi', limit: '2G' });
    expect(getIsolatorValue(m.app?.isolators, 'os/linux/no-new-privileges')).toBe(true);
    expect(getIsolatorValue(m.app?.isolators, 'resource/cpu')).toBeUndefined();
    const first = m.app?.isolators?.[0] as Isolator;
    if (isKnownIsolator(first) && first.name === 'resource/memory') expect(first.value.limit).toBe('1G');
    else expect.unreachable('resource/memory should be known');
  });

  it('keeps unknown isolators with their JSON value, as ace.md lets executors ignore them', () => {
    const valueText = '{"nested":[1,{"deep":null}],"__proto__":"kept"}';
    const m = parseImageManifest(manifestWith([{ name: 'example.com/gpu', value: 'PLACEHOLDER' }]).replace('"PLACEHOLDER"', valueText));
    const iso = m.app?.isolators?.[0] as Isolator;
    expect(isKnownIsolator(iso)).toBe(false);
    expect(JSON.stringify(iso.value)).toBe(valueText);
    const withNull = parseImageManifest(manifestWith([{ name: 'example.com/flag', value: null }]));
    expect(withNull.app?.isolators?.[0]).toEqual({ name: 'example.com/flag', value: null });
  });

  it('names the isolator, value field and rule in errors', () => {
    const e = errorOf(() =>
      parseImageManifest(
        manifestWith([
          { name: 'resource/cpu', value: { limit: '1' } },
          { name: 'os/linux/no-new-privileges', value: false },
          { name: 'resource/memory', value: { limit: '2 gigs' } },
        ]),
        'image.json',
      ),
    );
    expect(e.code).toBe('APPC_VALIDATION');
    expect(e.message).toMatch(/^image\.json: app\.isolators\[2\]\.value\.limit: must be a non-negative quantity/);
    expect(e.issues[0]?.path).toBe('app.isolators[2].value.limit');
  });

  it('checks each known value against ace.md', () => {
    const bad: [unknown, string][] = [
      [{ name: 'resource/cpu', value: { request: '2', limit: '1' } }, '[0].value.request'],
      [{ name: 'resource/memory', value: { request: '1G' } }, '[0].value.limit'],
      [{ name: 'resource/memory', value: { limit: '1G', default: true } }, '[0].value.default'],
      [{ name: 'resource/block-iops', value: { limit: '10' } }, '[0].value.default'],
      [{ name: 'resource/network-bandwidth', value: { default: true, limit: '1M', request: '1' } }, '[0].value.request'],
      [{ name: 'os/linux/capabilities-remove-set', value: { set: [] } }, '[0].value.set'],
      [{ name: 'os/linux/seccomp-retain-set', value: { set: ['read'], errno: 'Enotsup' } }, '[0].value.errno'],
      [{ name: 'os/linux/selinux-context', value: { user: 'u', role: 'r:x', type: 't', level: 's0' } }, '[0].value.role'],
      [{ name: 'os/linux/oom-score-adj', value: -1001 }, '[0].value'],
      [{ name: 'os/linux/cpu-shares', value: 262145 }, '[0].value'],
      [{ name: 'resource/cpu' }, '[0].value'],
      [{ name: 'Resource/CPU', value: {} }, '[0].name'],
    ];
    for (const [iso, path] of bad) {
      const r = appIsolatorsSchema.safeParse([iso]);
      expect(r.success, JSON.stringify(iso)).toBe(false);
      expect(formatJsonPath(r.error?.issues[0]?.path ?? []), JSON.stringify(iso)).toBe(path);
    }
  });

  it('applies scope, single-instance and conflict rules per list', () => {
    const sysctl = { name: 'os/unix/sysctl', value: { 'net.ipv4.ip_forward': '1' } };
    const caps = { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } };
    expect(podIsolatorsSchema.safeParse([sysctl]).success).toBe(true);
    expect(appIsolatorsSchema.safeParse([sysctl]).error?.issues[0]?.message).toMatch(/can only be used in pod isolators/);
    expect(podIsolatorsSchema.safeParse([caps]).error?.issues[0]?.message).toMatch(/can only be used in app isolators/);
    expect(podIsolatorsSchema.safeParse([sysctl, sysctl]).error?.issues[0]?.path).toEqual([1, 'name']);
    const remove = { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_KILL'] } };
    expect(appIsolatorsSchema.safeParse([caps, remove]).error?.issues[0]?.message).toMatch(/cannot be used together/);
    expect(appIsolatorsSchema.safeParse([caps, caps]).success).toBe(true);
  });
});
