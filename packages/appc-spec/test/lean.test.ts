import { describe, expect, it } from 'vitest';
import { AppcError, appIsolatorsSchema, appSchema, isAcName as fullIsAcName, parseImageManifest, podManifestSchema, getAnnotation as fullGetAnnotation, type App, type Mount, type Volume } from '../src/index.js';
import { appIsolatorsValid, appOverridesValid, getAnnotation, isAcName, mountsValid, readValidatedImageManifest, runtimeAppOverridesValid, ValidationError, volumesValid, type RuntimeApp } from '../src/lean/index.js';

const manifest = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/app',
  labels: [{ name: 'version', value: '1.0' }],
  app: { exec: ['/bin/app', '--flag'], user: '0', group: '0', environment: [{ name: 'A', value: 'b' }], workingDirectory: '/srv' },
  annotations: [{ name: 'coreos.com/rkt/stage1/run', value: '/run' }],
};

function errorOf(fn: () => unknown): AppcError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppcError) return e;
    throw e;
  }
  return expect.unreachable('expected an AppcError');
}

describe('@rkt/appc-spec/lean', () => {
  it('reads a valid manifest as the full parser does', () => {
    const withDeps = { ...manifest, dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }], imageID: `sha512-${'a'.repeat(128)}` }] };
    expect(readValidatedImageManifest(JSON.stringify(withDeps))).toEqual(parseImageManifest(JSON.stringify(withDeps)));
    const text = JSON.stringify(manifest);
    expect(readValidatedImageManifest(text)).toEqual(parseImageManifest(text));
    expect(readValidatedImageManifest(Buffer.from(text))).toEqual(parseImageManifest(Buffer.from(text)));
  });

  it('refuses a damaged copy with one error naming the source and the field', () => {
    const cases: [unknown, string][] = [
      [[], ''],
      [{ ...manifest, acKind: 'PodManifest' }, 'acKind'],
      [{ ...manifest, name: 7 }, 'name'],
      [{ ...manifest, app: { ...manifest.app, exec: '/bin/app' } }, 'app.exec'],
      [{ ...manifest, app: { ...manifest.app, user: undefined } }, 'app.user'],
      [{ ...manifest, app: { ...manifest.app, environment: [{ name: 'A' }] } }, 'app.environment'],
      [{ ...manifest, annotations: {} }, 'annotations'],
      [{ ...manifest, dependencies: {} }, 'dependencies'],
      [{ ...manifest, dependencies: [{ imageID: 'sha512-x' }] }, 'dependencies[0].imageName'],
      [{ ...manifest, dependencies: [{ imageName: 'example.com/base', imageID: 7 }] }, 'dependencies[0].imageID'],
      [{ ...manifest, dependencies: [{ imageName: 'example.com/base' }, { imageName: 'b', labels: [{ name: 'os' }] }] }, 'dependencies[1].labels'],
    ];
    for (const [doc, path] of cases) {
      const err = errorOf(() => readValidatedImageManifest(JSON.stringify(doc), '/store/x/manifest'));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.code).toBe('APPC_VALIDATION');
      expect(err.message).toContain('/store/x/manifest: ');
      expect((err as ValidationError).issues[0]?.path).toBe(path);
    }
    const torn = errorOf(() => readValidatedImageManifest('{"acKind": "Image', 'torn'));
    expect(torn.code).toBe('APPC_INVALID_JSON');
  });

  it('shares the AC Name rule and the annotation lookup with the full API', () => {
    for (const s of ['app', 'a-b', 'a1', '-a', 'a-', 'A', '', 'a_b']) expect(isAcName(s)).toBe(fullIsAcName(s));
    expect(getAnnotation(manifest.annotations, 'coreos.com/rkt/stage1/run')).toBe('/run');
    expect(fullGetAnnotation(manifest.annotations, 'none')).toBeUndefined();
  });

  it('checks the overridable fields of an app as appSchema does (appOverridesValid)', () => {
    // Every combination of a few values of each field rkt run's flags set, good and bad, against the schema.
    const execs: (string[] | undefined)[] = [undefined, [], ['/bin/app'], ['/bin/sh', '-c', 'echo $A'], ['relative', ''], [7 as unknown as string]];
    const ids = ['0', 'root', '/etc/owner', '', 5 as unknown as string];
    const dirs: (string | undefined)[] = [undefined, '/', '/srv/x', 'srv', '', './x'];
    const envs: (App['environment'] | undefined)[] = [
      undefined,
      [],
      [{ name: 'A', value: 'b' }],
      [{ name: 'PATH', value: '' }, { name: 'a.b-c_1', value: 'x=y' }, { name: '_', value: ' ' }],
      [{ name: '', value: 'x' }],
      [{ name: '1A', value: 'x' }],
      [{ name: 'A B', value: 'x' }],
      [{ name: 'A', value: '1' }, { name: 'A', value: '2' }],
      [{ name: 'A', value: 7 as unknown as string }],
      [null as unknown as { name: string; value: string }],
    ];
    let valid = 0;
    let cases = 0;
    for (const exec of execs) {
      for (const user of ids) {
        for (const group of ids) {
          for (const workingDirectory of dirs) {
            for (const environment of envs) {
              const app = {
                ...manifest.app,
                ...(exec !== undefined ? { exec } : { exec: undefined }),
                user,
                group,
                workingDirectory,
                environment,
              } as App;
              const json = JSON.parse(JSON.stringify(app)) as App;
              const expected = appSchema.safeParse(json).success;
              expect([json, appOverridesValid(json)]).toEqual([json, expected]);
              if (expected) valid++;
              cases++;
            }
          }
        }
      }
    }
    // Both answers occur often: the comparison is not decided by one side alone.
    expect(valid).toBeGreaterThan(cases / 20);
    expect(cases - valid).toBeGreaterThan(cases / 10);
  });

  it("checks --supplementary-gids, --user-annotation, --user-label and --readonly-rootfs as the schemas do (appOverridesValid, runtimeAppOverridesValid)", () => {
    // userAnnotations and userLabels are string maps: any key (the spec sets no rule on them, unlike image
    // annotations and labels), string values. supplementaryGIDs are 32-bit group IDs; readOnlyRootFS a boolean.
    const gids: unknown[] = [undefined, [], [0], [1024, 4294967295], [4294967296], [-1], [1.5], ['1'], [null], 7];
    const maps: unknown[] = [
      undefined,
      {},
      { team: 'x', 'example.com/owner': '' },
      { '': 'empty key', 'Upper Case!': 'v', name: 'reserved for image labels only' },
      JSON.parse('{"__proto__": "an own key"}'),
      { a: 'b', c: 7 },
      { a: null },
      { a: ['b'] },
      [],
      'a=b',
    ];
    const readOnly: unknown[] = [undefined, true, false, 'true', 1];
    // A null field is absent to the schemas; the lean checks leave it to them (no flag makes one).
    const nulls: unknown[] = [null];
    const ID = `sha512-${'ab'.repeat(64)}`;
    let valid = 0;
    let cases = 0;
    for (const supplementaryGIDs of [...gids, ...nulls]) {
      for (const userAnnotations of [...maps, ...nulls]) {
        for (const userLabels of maps) {
          for (const readOnlyRootFS of [...readOnly, ...nulls]) {
            const app = { ...manifest.app, supplementaryGIDs, userAnnotations, userLabels };
            const ra = JSON.parse(JSON.stringify({ name: 'app', image: { name: 'example.com/app', id: ID }, app, readOnlyRootFS })) as RuntimeApp;
            const doc = { acVersion: '0.8.11', acKind: 'PodManifest', apps: [ra] };
            const expectedApp = appSchema.safeParse(ra.app).success;
            const expected = podManifestSchema.safeParse(doc).success;
            const leanApp = appOverridesValid(ra.app!);
            const lean = runtimeAppOverridesValid(ra);
            if (supplementaryGIDs === null || userAnnotations === null || readOnlyRootFS === null) {
              // Never passes what the schemas refuse.
              if (lean) expect([ra, expected]).toEqual([ra, true]);
              if (leanApp) expect([ra.app, expectedApp]).toEqual([ra.app, true]);
            } else {
              expect([ra.app, leanApp]).toEqual([ra.app, expectedApp]);
              expect([ra, lean]).toEqual([ra, expected]);
            }
            if (expected) valid++;
            cases++;
          }
        }
      }
    }
    expect(valid).toBeGreaterThan(cases / 20);
    expect(cases - valid).toBeGreaterThan(cases / 10);
  });

  it("checks a pod's volumes and mounts as podManifestSchema does (volumesValid, mountsValid)", () => {
    const ID = `sha512-${'ab'.repeat(64)}`;
    const pod = (volumes: unknown, mounts: unknown): unknown => ({
      acVersion: '0.8.11',
      acKind: 'PodManifest',
      apps: [{ name: 'app', image: { name: 'example.com/app', id: ID }, app: manifest.app, mounts }],
      volumes,
    });
    const vol = (over: Record<string, unknown>): Volume => over as unknown as Volume;
    // Each volume alone, good and bad in every field; then lists of them (duplicates included).
    const single: Volume[] = [
      vol({ name: 'data', kind: 'host', source: '/srv/data' }),
      vol({ name: 'data', kind: 'host', source: '/srv/data', readOnly: true, recursive: false }),
      vol({ name: 'data', kind: 'host', source: 'relative' }),
      vol({ name: 'data', kind: 'host', source: '' }),
      vol({ name: 'data', kind: 'host' }),
      vol({ name: 'data', kind: 'host', source: '/x', mode: '0755' }),
      vol({ name: 'data', kind: 'host', source: '/x', uid: 0 }),
      vol({ name: 'data', kind: 'host', source: '/x', readOnly: 'yes' }),
      vol({ name: 'Data', kind: 'host', source: '/x' }),
      vol({ name: 'data-', kind: 'empty' }),
      vol({ name: 'tmp', kind: 'empty' }),
      vol({ name: 'tmp', kind: 'empty', mode: '0755', uid: 0, gid: 4294967295, readOnly: false, recursive: true }),
      vol({ name: 'tmp', kind: 'empty', mode: '755' }),
      vol({ name: 'tmp', kind: 'empty', mode: '01777' }),
      vol({ name: 'tmp', kind: 'empty', mode: '0758' }),
      vol({ name: 'tmp', kind: 'empty', mode: 755 }),
      vol({ name: 'tmp', kind: 'empty', uid: -1 }),
      vol({ name: 'tmp', kind: 'empty', gid: 4294967296 }),
      vol({ name: 'tmp', kind: 'empty', uid: 1.5 }),
      vol({ name: 'tmp', kind: 'empty', source: '/x' }),
      vol({ name: 'tmp', kind: 'other' }),
      vol({ name: 'tmp' }),
      null as unknown as Volume,
    ];
    const lists: Volume[][] = [[], ...single.map((v) => [v]), [single[0]!, single[10]!], [single[0]!, single[1]!], [single[10]!, vol({ name: 'tmp', kind: 'empty', mode: '0700' })]];
    const mounts: unknown[] = [
      undefined,
      [],
      [{ volume: 'data', path: '/var/lib/data' }],
      [{ volume: 'data', path: 'relative' }],
      [{ volume: 'data', path: '' }],
      [{ volume: 'Data', path: '/x' }],
      [{ volume: 'data', path: 7 }],
      [{ volume: 'data', path: '/x', appVolume: { name: 'data', kind: 'empty' } }],
      [{ volume: 'data', path: '/x', appVolume: { name: 'data', kind: 'host' } }],
      [null],
    ];
    let valid = 0;
    let cases = 0;
    for (const volumes of lists) {
      for (const m of mounts) {
        const doc = JSON.parse(JSON.stringify(pod(volumes, m))) as { volumes: Volume[]; apps: { mounts?: Mount[] }[] };
        const expected = podManifestSchema.safeParse(doc).success;
        const lean = volumesValid(doc.volumes) && (doc.apps[0]!.mounts === undefined || mountsValid(doc.apps[0]!.mounts));
        // The lean check may leave a valid case to the schemas (an appVolume), never pass an invalid one.
        if (lean || !JSON.stringify(m ?? '').includes('appVolume')) expect([doc, lean]).toEqual([doc, expected]);
        if (expected) valid++;
        cases++;
      }
    }
    expect(valid).toBeGreaterThan(cases / 20);
    expect(cases - valid).toBeGreaterThan(cases / 20);
  });

  it("checks an app's isolators as appIsolatorsSchema does (appIsolatorsValid)", () => {
    const iso = (name: string, value: unknown): unknown => ({ name, value });
    // Good and bad values of each isolator rkt run's flags make, one or two at a time (duplicates, conflicts,
    // an unknown isolator and pod-only ones, which the lean check leaves to the schemas).
    const one: unknown[] = [
      iso('resource/memory', { request: '64M', limit: '64M' }),
      iso('resource/memory', { limit: '1Gi' }),
      iso('resource/memory', { request: '2G', limit: '1G' }),
      iso('resource/memory', { request: '1G' }),
      iso('resource/memory', { limit: 'lots' }),
      iso('resource/memory', { limit: 1024 }),
      iso('resource/memory', { limit: -1 }),
      iso('resource/memory', { limit: '1G', default: true }),
      iso('resource/memory', { limit: '1G', default: false }),
      iso('resource/cpu', { request: '500m', limit: '1' }),
      iso('resource/cpu', { request: '1001m', limit: '1' }),
      iso('resource/cpu', { limit: '' }),
      iso('os/linux/cpu-shares', 1024),
      iso('os/linux/cpu-shares', 1),
      iso('os/linux/cpu-shares', 262145),
      iso('os/linux/cpu-shares', 2.5),
      iso('os/linux/cpu-shares', '1024'),
      iso('os/linux/oom-score-adj', -1000),
      iso('os/linux/oom-score-adj', 1001),
      iso('os/linux/capabilities-retain-set', { set: ['CAP_CHOWN', 'CAP_KILL'] }),
      iso('os/linux/capabilities-retain-set', { set: [] }),
      iso('os/linux/capabilities-retain-set', { set: [''] }),
      iso('os/linux/capabilities-remove-set', { set: ['CAP_NET_RAW'] }),
      iso('os/linux/capabilities-remove-set', { set: 'CAP_NET_RAW' }),
      iso('os/linux/seccomp-retain-set', { set: ['@rkt/default-whitelist'], errno: 'ENOTSUP' }),
      iso('os/linux/seccomp-retain-set', { set: ['read'], errno: 'enotsup' }),
      iso('os/linux/seccomp-retain-set', { set: ['read'], errno: '' }),
      iso('os/linux/seccomp-remove-set', { set: ['ptrace'] }),
      iso('os/linux/seccomp-remove-set', { set: [] }),
      iso('os/linux/no-new-privileges', true),
      iso('os/linux/no-new-privileges', 'yes'),
      iso('os/unix/sysctl', { 'net.ipv4.ip_forward': '1' }),
      iso('example.com/custom', { anything: 1 }),
      iso('resource/memory', undefined),
      { name: 'resource/memory' },
      null,
    ];
    const lists: unknown[][] = [[], ...one.map((i) => [i])];
    for (const a of one.slice(0, 31)) for (const b of [one[0], one[12], one[19], one[22], one[24], one[27], one[29]]) lists.push([a, b]);
    let valid = 0;
    let leftToSchemas = 0;
    for (const list of lists) {
      const doc = JSON.parse(JSON.stringify(list)) as unknown[];
      const expected = appIsolatorsSchema.safeParse(doc).success;
      const lean = appIsolatorsValid(doc);
      // The lean check never passes what the schema refuses; it may leave a valid list to it only when the
      // list holds an isolator it does not know (sysctl, a custom one).
      if (lean || !JSON.stringify(doc).match(/sysctl|custom/)) expect([doc, lean]).toEqual([doc, expected]);
      else if (expected) leftToSchemas++;
      if (expected) valid++;
    }
    expect(valid).toBeGreaterThan(lists.length / 10);
    expect(lists.length - valid).toBeGreaterThan(lists.length / 10);
    expect(leftToSchemas).toBeGreaterThan(0);
  });
});

