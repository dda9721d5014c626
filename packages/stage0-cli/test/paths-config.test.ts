import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataDirOf, readPathsConfig } from '../src/commands/pods/paths-config.js';
import { stage1ImagesDirectory } from '../src/commands/pods/stage1-config.js';
import { CliError } from '../src/errors.js';

let tmp: string;
let system: string;
let local: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rkt-paths-config-'));
  system = join(tmp, 'system');
  local = join(tmp, 'local');
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function put(dir: string, name: string, content: unknown): string {
  mkdirSync(join(dir, 'paths.d'), { recursive: true });
  const file = join(dir, 'paths.d', name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}
const paths = (fields: Record<string, unknown>) => ({ rktKind: 'paths', rktVersion: 'v1', ...fields });
const read = () => readPathsConfig([system, local]);
const globals = (dir?: string, userConfigDir?: string) => ({ dir, systemConfigDir: system, localConfigDir: local, userConfigDir });

/** The one-line message readPathsConfig fails with (a CliError, as every malformed configuration file). */
function failure(): string {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).code).toBe('CLI_BAD_ARGS');
    return (err as Error).message;
  }
  throw new Error('readPathsConfig did not fail');
}

describe('readPathsConfig', () => {
  it('nothing without paths.d, or with files of other kinds or other extensions only', () => {
    expect(read()).toEqual({});
    put(system, 'notes.txt', 'not json');
    put(local, 'stage1.json', { rktKind: 'stage1', rktVersion: 'v1', location: '/x.aci' });
    expect(read()).toEqual({});
  });

  it('the local directory wins field by field over the system one', () => {
    put(system, 'paths.json', paths({ data: '/srv/system-data', 'stage1-images': '/srv/system-stage1' }));
    expect(read()).toEqual({ data: '/srv/system-data', 'stage1-images': '/srv/system-stage1' });
    put(local, 'paths.json', paths({ data: '/srv/local-data' }));
    expect(read()).toEqual({ data: '/srv/local-data', 'stage1-images': '/srv/system-stage1' });
    // Two files of one directory setting different fields both apply; an empty string leaves a field unset.
    put(local, 'z-images.json', paths({ 'stage1-images': '/srv/local-stage1/', data: '' }));
    expect(read()).toEqual({ data: '/srv/local-data', 'stage1-images': '/srv/local-stage1' });
  });

  it('two files of one directory setting the same field: an error naming both, as rkt had it', () => {
    const first = put(local, 'a.json', paths({ data: '/srv/a' }));
    const second = put(local, 'b.json', paths({ data: '/srv/b' }));
    expect(failure()).toBe(`paths configuration ${second}: data: already set by ${first} (one file of a directory may set it)`);
  });

  it('a malformed file: one line naming the file and the field', () => {
    const file = put(local, 'paths.json', '{"rktKind": "paths",');
    expect(failure()).toMatch(new RegExp(`^paths configuration ${file}: .*JSON`));
    put(local, 'paths.json', { rktKind: 'paths', rktVersion: 'v2', data: '/srv' });
    expect(failure()).toBe(`paths configuration ${file}: rktVersion: must be "v1"`);
    put(local, 'paths.json', paths({ data: 7 }));
    expect(failure()).toBe(`paths configuration ${file}: data: must be a string, got 7`);
    put(local, 'paths.json', paths({ 'stage1-images': 'relative/images' }));
    expect(failure()).toBe(`paths configuration ${file}: stage1-images: must be an absolute path, got "relative/images"`);
  });
});

describe('dataDirOf', () => {
  it('--dir when given, without reading paths.d; else paths.d, else /var/lib/rkt', () => {
    expect(dataDirOf(globals())).toEqual({ dir: '/var/lib/rkt', from: 'default' });
    put(local, 'paths.json', paths({ data: '/srv/rkt' }));
    expect(dataDirOf(globals())).toEqual({ dir: '/srv/rkt', from: 'paths.d' });
    // A malformed paths.d is not even read when --dir is given.
    put(system, 'broken.json', '{');
    expect(dataDirOf(globals('/given'))).toEqual({ dir: '/given', from: 'flag' });
    expect(() => dataDirOf(globals())).toThrow(/^paths configuration .*broken\.json: /);
  });

  it("--user-config's paths.d wins over the local one, as rkt read every kind from the user directory too", () => {
    const user = join(tmp, 'user');
    put(local, 'paths.json', paths({ data: '/srv/rkt' }));
    put(user, 'paths.json', paths({ data: '/home/me/rkt' }));
    expect(dataDirOf(globals(undefined, user))).toEqual({ dir: '/home/me/rkt', from: 'paths.d' });
    expect(dataDirOf(globals())).toEqual({ dir: '/srv/rkt', from: 'paths.d' });
  });
});

describe('stage1ImagesDirectory', () => {
  it("paths.d's stage1-images, else stage1.d's images-directory, else <system-config>/stage1-images", () => {
    const stage1 = { rktKind: 'stage1', rktVersion: 'v1' } as const;
    expect(stage1ImagesDirectory(globals(), stage1)).toBe(join(system, 'stage1-images'));
    expect(stage1ImagesDirectory(globals(), { ...stage1, 'images-directory': '/srv/from-stage1.d' })).toBe('/srv/from-stage1.d');
    put(system, 'paths.json', paths({ 'stage1-images': '/srv/from-paths.d' }));
    expect(stage1ImagesDirectory(globals(), { ...stage1, 'images-directory': '/srv/from-stage1.d' })).toBe('/srv/from-paths.d');
  });
});
