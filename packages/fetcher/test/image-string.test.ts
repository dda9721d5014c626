import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FetchError, hostLabels, parseAppName, parseImageString, withHostDefaults } from '../src/index.js';

describe('parseImageString', () => {
  it('classifies IDs, URLs, paths and names as rkt did', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rkt-imgstr-'));
    try {
      await writeFile(join(dir, 'busybox'), 'x');
      const id = `sha512-${'a'.repeat(128)}`;
      expect(parseImageString(id)).toMatchObject({ kind: 'id', id });
      expect(parseImageString('sha512-abcd')).toMatchObject({ kind: 'id' });
      expect(parseImageString('https://example.com/a.aci')).toMatchObject({ kind: 'url' });
      expect(parseImageString('HTTP://example.com/a.aci')).toMatchObject({ kind: 'url' });
      expect(parseImageString('file:///tmp/a.aci')).toMatchObject({ kind: 'path', path: '/tmp/a.aci' });
      expect(parseImageString('/abs/a.aci')).toMatchObject({ kind: 'path', path: '/abs/a.aci' });
      // An existing regular file wins over the name reading.
      expect(parseImageString('busybox', { cwd: dir })).toMatchObject({ kind: 'path', path: join(dir, 'busybox') });
      expect(parseImageString('alpine', { cwd: dir })).toMatchObject({ kind: 'name', app: { name: 'alpine', labels: [] } });
      expect(parseImageString('./x/app', { cwd: dir })).toMatchObject({ kind: 'path', path: join(dir, 'x', 'app') });
      expect(parseImageString('stage1.aci', { cwd: dir })).toMatchObject({ kind: 'path' });
      // A colon means a version: a name even with an .aci-looking tail or a ./ in it.
      expect(parseImageString('example.com/app:1.aci', { cwd: dir })).toMatchObject({ kind: 'name' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads docker:// as a Docker image reference (Docker Hub by default), its tag not taken for a port', () => {
    expect(parseImageString('docker://busybox')).toEqual({
      kind: 'docker', raw: 'docker://busybox', ref: { raw: 'docker://busybox', registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' },
    });
    expect(parseImageString('docker://127.0.0.1:5000/team/app:1.2')).toMatchObject({ kind: 'docker', ref: { registry: '127.0.0.1:5000', repository: 'team/app', tag: '1.2' } });
    expect(() => parseImageString('docker://Busybox')).toThrow('docker://Busybox: invalid docker image reference: repository name "Busybox" must be lowercase');
  });

  it('refuses unsupported schemes with one line naming the input', () => {
    expect(() => parseImageString('ftp://example.com/a.aci')).toThrow(/ftp:\/\/example.com\/a.aci: unsupported URL scheme "ftp" \(supported: http, https, file, docker\)/);
    expect(() => parseImageString('')).toThrow(FetchError);
  });

  it('refuses a relative file:// URL, whose first part would be read as a host', () => {
    expect(() => parseImageString('file://relative.aci')).toThrow('file://relative.aci: a file URL needs an absolute path (file:///dir/image.aci); "relative.aci" would be its host');
    expect(parseImageString('file://localhost/tmp/a.aci')).toMatchObject({ kind: 'path', path: '/tmp/a.aci' });
  });

  it('refuses a malformed image ID as one, instead of reading it as a name to discover', () => {
    for (const bad of ['sha512-zzz', 'sha512-a', 'sha512-ABCD', `sha512-${'a'.repeat(129)}`, 'sha512-ab:1.0']) {
      expect(() => parseImageString(bad)).toThrow(`invalid image ID ${JSON.stringify(bad)}: expected "sha512-" and 2 to 128 lowercase hex digits`);
    }
  });
});

describe('parseAppName', () => {
  it('reads :version and labels in order', () => {
    expect(parseAppName('example.com/app:v1.2,os=linux,arch=amd64')).toEqual({
      name: 'example.com/app',
      labels: [{ name: 'version', value: 'v1.2' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    });
    expect(parseAppName('example.com/app,channel=alpha')).toEqual({ name: 'example.com/app', labels: [{ name: 'channel', value: 'alpha' }] });
  });

  it("gives the store's errors, in its words, naming the string", () => {
    expect(() => parseAppName('example.com/app,channel')).toThrow('"example.com/app,channel": label "channel" has no value (expected label=value)');
    expect(() => parseAppName('example.com/app:1,version=2')).toThrow('"example.com/app:1,version=2": label version is given twice');
    expect(() => parseAppName('example.com/app,os=linux,os=linux')).toThrow('"example.com/app,os=linux,os=linux": label os is given twice');
    expect(() => parseAppName('Example.com/App')).toThrow('"Example.com/App" is not a valid image name (lowercase a-z0-9-._~/, alphanumeric at both ends)');
    expect(() => parseAppName(',os=linux')).toThrow('",os=linux": "" is not a valid image name (lowercase a-z0-9-._~/, alphanumeric at both ends)');
    expect(() => parseAppName('example.com/app,Bad=1')).toThrow('"example.com/app,Bad=1": "Bad" is not a valid label name (lowercase a-z0-9-._~/, alphanumeric at both ends)');
    // An empty value is a typo (appc passed it on to discovery's URL templates as is).
    expect(() => parseAppName('example.com/app,os=')).toThrow('"example.com/app,os=": label os has an empty value (expected os=VALUE)');
    expect(() => parseAppName('example.com/app:')).toThrow('"example.com/app:": label version has an empty value (expected version=VALUE)');
    try {
      parseAppName('x,y');
    } catch (err) {
      expect((err as FetchError).code).toBe('FETCH_BAD_IMAGE_STRING');
    }
  });

  it('defaults os and arch to the host, keeping explicit ones', () => {
    const host = hostLabels();
    expect(host.os).toBe('linux');
    expect(['amd64', 'aarch64', 'i386', 'armv7l', 'ppc64le', 's390x']).toContain(host.arch);
    expect(withHostDefaults(parseAppName('a.com/b:1')).labels).toEqual([
      { name: 'version', value: '1' }, { name: 'os', value: host.os }, { name: 'arch', value: host.arch },
    ]);
    expect(withHostDefaults(parseAppName('a.com/b,arch=s390x')).labels).toContainEqual({ name: 'arch', value: 's390x' });
  });
});
