import { describe, expect, it } from 'vitest';
import { parseArgv } from '../src/argv/parse.js';
import type { CommandContext } from '../src/command.js';
import { ROOT } from '../src/commands/registry.js';
import { parseApps } from '../src/commands/pods/app-args.js';
import { checkMountsNameVolumes, parseMountFlag, parseVolumeFlag, parseVolumeFlags } from '../src/commands/pods/volumes.js';
import { GLOBAL_FLAGS } from '../src/globals.js';
import { refusal as refused } from './refusal.js';

const refusal = (f: () => unknown): string => refused(f, 'CLI_BAD_FLAG_VALUE');


describe('--volume', () => {
  it('reads host volumes, with readOnly and recursive when given', () => {
    expect(parseVolumeFlag('data,kind=host,source=/srv/data')).toEqual({ name: 'data', kind: 'host', source: '/srv/data' });
    expect(parseVolumeFlag('data,kind=host,source=/srv/data,readOnly=true,recursive=false')).toEqual({
      name: 'data',
      kind: 'host',
      source: '/srv/data',
      readOnly: true,
      recursive: false,
    });
  });

  it('reads empty volumes with the spec defaults filled in', () => {
    expect(parseVolumeFlag('tmp,kind=empty')).toEqual({ name: 'tmp', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
    expect(parseVolumeFlag('tmp,kind=empty,mode=0700,uid=1000,gid=100,readOnly=false')).toEqual({
      name: 'tmp',
      kind: 'empty',
      readOnly: false,
      mode: '0700',
      uid: 1000,
      gid: 100,
    });
  });

  it('names the flag, the value and the bad key', () => {
    expect(refusal(() => parseVolumeFlag('data,kind=host,sauce=/x'))).toBe('--volume "data,kind=host,sauce=/x": unknown key "sauce" (keys: kind, source, readOnly, recursive, mode, uid, gid)');
    expect(refusal(() => parseVolumeFlag('data,kind=host,source=/a,source=/b'))).toMatch(/key "source" is given twice/);
    expect(refusal(() => parseVolumeFlag('data,kind'))).toMatch(/"kind" is not key=value/);
    expect(refusal(() => parseVolumeFlag('data'))).toMatch(/kind is required/);
    expect(refusal(() => parseVolumeFlag('data,kind=nfs'))).toMatch(/kind must be "host" or "empty", not "nfs"/);
    expect(refusal(() => parseVolumeFlag('Data,kind=empty'))).toMatch(/volume name "Data" is not a valid AC Name/);
    expect(refusal(() => parseVolumeFlag(',kind=empty'))).toMatch(/volume name "" is not a valid AC Name/);
    expect(refusal(() => parseVolumeFlag('data,kind=host'))).toMatch(/source is required for kind=host/);
    expect(refusal(() => parseVolumeFlag('data,kind=host,source=rel'))).toMatch(/source "rel" must be an absolute path/);
    expect(refusal(() => parseVolumeFlag('data,kind=host,source=/a,mode=0700'))).toMatch(/key "mode" does not apply to kind=host/);
    expect(refusal(() => parseVolumeFlag('data,kind=empty,source=/a'))).toMatch(/key "source" does not apply to kind=empty/);
    expect(refusal(() => parseVolumeFlag('data,kind=empty,readOnly=yes'))).toMatch(/readOnly must be true or false, not "yes"/);
    expect(refusal(() => parseVolumeFlag('data,kind=empty,mode=999'))).toMatch(/mode must be an octal permission mode/);
    expect(refusal(() => parseVolumeFlag('data,kind=empty,uid=-1'))).toMatch(/uid must be a numeric ID, not "-1"/);
    expect(refusal(() => parseVolumeFlag('data,kind=empty,gid=4294967295'))).toMatch(/gid must be a numeric ID/);
  });

  it('refuses a volume name given twice', () => {
    expect(refusal(() => parseVolumeFlags(['a,kind=empty', 'b,kind=empty', 'a,kind=host,source=/x']))).toBe('--volume: volume name "a" is given twice');
  });
});

describe('--mount', () => {
  it('reads volume and target', () => {
    expect(parseMountFlag('volume=data,target=/var/data')).toEqual({ volume: 'data', path: '/var/data' });
  });

  it('names the bad key or the missing part', () => {
    expect(refusal(() => parseMountFlag('volume=data,path=/x'))).toBe('--mount "volume=data,path=/x": unknown key "path" (keys: volume, target)');
    expect(refusal(() => parseMountFlag('target=/x'))).toMatch(/volume=NAME is required/);
    expect(refusal(() => parseMountFlag('volume=data'))).toMatch(/target=PATH is required/);
    expect(refusal(() => parseMountFlag('volume=data,target=x'))).toMatch(/target "x" must be an absolute path/);
  });

  it('must name a --volume', () => {
    expect(refusal(() => checkMountsNameVolumes([{ volume: 'b', path: '/b' }], [{ name: 'a', kind: 'empty' }]))).toBe(
      '--mount volume=b,target=/b: no --volume named "b" (volumes: a)',
    );
    expect(() => checkMountsNameVolumes([{ volume: 'a', path: '/a' }], [{ name: 'a', kind: 'empty' }])).not.toThrow();
  });
});

describe('--mount placement, as rkt: before any image for every app, after an image for that app', () => {
  const appsOf = (...argv: string[]) => {
    const inv = parseArgv(argv, ROOT, GLOBAL_FLAGS);
    const ctx = { flags: inv.flags, argsLenAtDash: inv.argsLenAtDash, appArgs: inv.appArgs, cwd: '/' } as unknown as CommandContext;
    return parseApps(ctx, inv.args).map((a) => ({ image: a.image, mounts: (a.input.mounts ?? []).map((m) => `${m.volume}:${m.path}`) }));
  };

  it('applies a mount given before the images to each of them, one given after an image to it alone', () => {
    expect(
      appsOf('run', '--mount=volume=g,target=/g', 'img1', '--mount', 'volume=one,target=/1', 'img2', '--mount=volume=two,target=/2', '--', 'arg', '---', 'img3', '--mount=volume=three,target=/3'),
    ).toEqual([
      { image: 'img1', mounts: ['g:/g', 'one:/1'] },
      { image: 'img2', mounts: ['g:/g', 'two:/2'] },
      { image: 'img3', mounts: ['g:/g', 'three:/3'] },
    ]);
  });

  it('a single image takes both kinds', () => {
    expect(appsOf('run', '--mount=volume=a,target=/a', 'img', '--mount=volume=b,target=/b')).toEqual([{ image: 'img', mounts: ['a:/a', 'b:/b'] }]);
  });

  it('a malformed per-app mount after --- is refused with the flag named', () => {
    expect(refusal(() => appsOf('run', 'img1', '--', '---', 'img2', '--mount=volume=x'))).toMatch(/--mount "volume=x": target=PATH is required/);
  });
});
