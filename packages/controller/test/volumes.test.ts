import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PodError } from '../src/errors.js';
import { appMounts, checkVolumes, implicitVolumes } from '../src/volumes.js';

const tmp = mkdtempSync(join(tmpdir(), 'controller-volumes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function podError(p: Promise<unknown> | (() => unknown)): Promise<PodError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(PodError);
    expect((err as PodError).code).toBe('POD_VOLUME');
    return err as PodError;
  }
  throw new Error('expected a PodError');
}

describe('checkVolumes', () => {
  it('accepts existing host sources (directory or file) and empty volumes', async () => {
    writeFileSync(join(tmp, 'file'), 'x');
    await expect(
      checkVolumes([
        { name: 'a', kind: 'host', source: tmp },
        { name: 'b', kind: 'host', source: join(tmp, 'file') },
        { name: 'c', kind: 'empty' },
      ]),
    ).resolves.toBeUndefined();
  });

  it('refuses a missing host source, a special file and a duplicate name', async () => {
    const missing = join(tmp, 'missing');
    expect((await podError(checkVolumes([{ name: 'a', kind: 'host', source: missing }]))).message).toBe(
      `volume "a": host source ${missing}: no such file or directory`,
    );
    expect((await podError(checkVolumes([{ name: 'a', kind: 'host', source: '/dev/null' }]))).message).toMatch(/neither a directory nor a file/);
    expect(
      (
        await podError(
          checkVolumes([
            { name: 'a', kind: 'empty' },
            { name: 'a', kind: 'empty' },
          ]),
        )
      ).message,
    ).toMatch(/volume "a" is given twice/);
  });
});

describe('implicitVolumes', () => {
  it('adds an empty volume for a mount point nothing serves, once per name', () => {
    const added = implicitVolumes(
      [{ name: 'given', kind: 'empty' }],
      [
        { name: 'db', mountPoints: [{ name: 'data', path: '/var/lib/db' }, { name: 'given', path: '/g' }, { name: 'served', path: '/s' }], mounts: [{ volume: 'given', path: '/s/' }] },
        { name: 'backup', mountPoints: [{ name: 'data', path: '/backup' }] },
      ],
    );
    expect(added).toEqual([{ name: 'data', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
  });
});

describe('appMounts', () => {
  const host = { name: 'h', kind: 'host', source: '/srv/h' } as const;

  it('explicit mounts first, then mount points by volume name; host volumes recursive unless told', () => {
    const mounts = appMounts(
      { name: 'app', mounts: [{ volume: 'h', path: '/data' }], mountPoints: [{ name: 'e', path: '/var/e' }] },
      [host, { name: 'e', kind: 'empty' }, { name: 'n', kind: 'host', source: '/n', recursive: false }],
    );
    expect(mounts).toEqual([
      { volume: 'h', kind: 'host', source: '/srv/h', target: '/data', readOnly: false, recursive: true },
      { volume: 'e', kind: 'empty', target: '/var/e', readOnly: false, recursive: false },
    ]);
    expect(appMounts({ name: 'app', mounts: [{ volume: 'n', path: '/n' }] }, [{ name: 'n', kind: 'host', source: '/n', recursive: false }])[0]?.recursive).toBe(false);
  });

  it("readOnly on the volume wins over the mount point's; unset, the mount point decides", () => {
    const point = [{ name: 'h', path: '/data', readOnly: true }];
    expect(appMounts({ name: 'a', mountPoints: point }, [host])[0]?.readOnly).toBe(true);
    expect(appMounts({ name: 'a', mountPoints: point }, [{ ...host, readOnly: false }])[0]?.readOnly).toBe(false);
    expect(appMounts({ name: 'a', mountPoints: [{ name: 'h', path: '/data' }] }, [{ ...host, readOnly: true }])[0]?.readOnly).toBe(true);
  });

  it('a mount at a mount point\'s path replaces it', () => {
    const mounts = appMounts({ name: 'a', mounts: [{ volume: 'other', path: '/data/' }], mountPoints: [{ name: 'h', path: '/data' }] }, [host, { name: 'other', kind: 'empty' }]);
    expect(mounts.map((m) => `${m.volume}:${m.target}`)).toEqual(['other:/data']);
  });

  it('an appVolume is used as is', () => {
    const mounts = appMounts({ name: 'a', mounts: [{ volume: 'inline', path: '/i', appVolume: { name: 'inline', kind: 'host', source: '/x', readOnly: true } }] }, []);
    expect(mounts).toEqual([{ volume: 'inline', kind: 'host', source: '/x', target: '/i', readOnly: true, recursive: true }]);
  });

  it('orders parents before what lies below them', () => {
    const mounts = appMounts(
      { name: 'a', mounts: [{ volume: 'e', path: '/data/logs/x' }, { volume: 'h', path: '/data' }, { volume: 'f', path: '/data/logs' }] },
      [host, { name: 'e', kind: 'empty' }, { name: 'f', kind: 'empty' }],
    );
    expect(mounts.map((m) => m.target)).toEqual(['/data', '/data/logs', '/data/logs/x']);
  });

  it('refuses an unknown volume, two mounts at one path, and the root', async () => {
    expect((await podError(() => appMounts({ name: 'web', mounts: [{ volume: 'nope', path: '/x' }] }, [host]))).message).toBe(
      'app "web": mount at /x names volume "nope", which the pod does not have (volumes: h)',
    );
    expect((await podError(() => appMounts({ name: 'web', mounts: [{ volume: 'h', path: '/x' }, { volume: 'h', path: '/x/.' }] }, [host]))).message).toBe(
      'app "web": two mounts at /x',
    );
    expect((await podError(() => appMounts({ name: 'web', mounts: [{ volume: 'h', path: '/a/..' }] }, [host]))).message).toMatch(/cannot be mounted on the app's root/);
    expect((await podError(() => appMounts({ name: 'web', mountPoints: [{ name: 'm', path: '/m' }] }, []))).message).toMatch(/no volume for mount point "m" at \/m/);
  });
});
