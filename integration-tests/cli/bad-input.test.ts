// Bad input through the built bin/rkt, as a user meets it: every malformed manifest, ACI, pod manifest, flag and
// image string is one line on stderr naming what was wrong and where (file, field, JSON path), exit 254, nothing
// on stdout, and the store and the pods as they were (their listings, and every file of the data directory down
// to sizes and mtimes, the index's LevelDB files aside); no archive writes outside the store. Device nodes, FIFOs,
// relative execs and the duplicates appc allows (ports, mount points) are valid images, as for actool and rkt.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHeader, rawTar, type RawEntry } from '../../packages/image-store/test/helpers.js';
import { buildBusyboxAci, ensureBuilt, STAGE1S } from '../pods/harness.js';
import { rktIn, tree } from './refused.js';

const SKIP_IMAGE_CHECK_WARNING = 'warning: image signature verification has been disabled (--insecure-options=image)\n';

let tmp: string;
/**
 * The data directories the cases are spread over, each set up alike and each case checked against its own:
 * two rkt processes at a time (a case is one process, and they were ~270 of them one after another).
 */
const LANES = 2;
let dataDirs: string[] = [];
let canary: string;
let fly: string;
let busybox: string;
let busyboxId: string;
let flyId: string;
/** Every file this test wrote itself outside the data directory: anything else there was written by rkt. */
const written = new Set<string>();

interface Result { status: number | null; stdout: string; stderr: string }

/** bin/rkt with the data directory `dataDir`, in the test's directory. */
const rkt = (dataDir: string, args: readonly string[]): Promise<Result> => rktIn(dataDir, tmp, args);

function write(name: string, content: string | Buffer): string {
  const path = join(tmp, name);
  writeFileSync(path, content);
  written.add(path);
  return path;
}

/** The store and the pods as a user sees them, and the data directory on disk. */
async function listings(dataDir: string): Promise<{ images: unknown; pods: unknown }> {
  const images = await rkt(dataDir, ['image', 'list', '--format=json']);
  const pods = await rkt(dataDir, ['list', '--format=json']);
  expect(images.status, images.stderr).toBe(0);
  expect(pods.status, pods.stderr).toBe(0);
  return { images: JSON.parse(images.stdout) as unknown, pods: JSON.parse(pods.stdout) as unknown };
}

interface Case {
  readonly args: readonly string[];
  /** The whole stderr line, without its newline (a RegExp for lines that quote a Node or host-dependent text). */
  readonly line: string | RegExp;
}

/**
 * Runs each case and checks the standard: exit 254, one line (after the warning --insecure-options=image asks
 * for), that line, nothing on stdout, and every file of the data directory as it was; the listings are
 * compared once for the group (the file check already sees any change they could show). The cases are dealt
 * out to the data directories, each running its own one at a time.
 */
async function sweep(cases: readonly Case[]): Promise<void> {
  const lanes = await Promise.allSettled(
    dataDirs.map(async (dataDir, lane) => {
      const listed = await listings(dataDir);
      const before = tree(dataDir);
      for (const c of cases.filter((_, i) => i % dataDirs.length === lane)) {
        const what = c.args.join(' ');
        const r = await rkt(dataDir, c.args);
        const stderr = c.args.includes('--insecure-options=image') && r.stderr.startsWith(SKIP_IMAGE_CHECK_WARNING) ? r.stderr.slice(SKIP_IMAGE_CHECK_WARNING.length) : r.stderr;
        expect({ status: r.status, stdout: r.stdout, lines: stderr.split('\n').length - 1 }, `${what}\n${r.stderr}`).toEqual({ status: 254, stdout: '', lines: 1 });
        if (typeof c.line === 'string') expect(stderr, what).toBe(`${c.line}\n`);
        else expect(stderr.trimEnd(), what).toMatch(c.line);
        expect(tree(dataDir), what).toEqual(before);
      }
      expect(await listings(dataDir)).toEqual(listed);
    }),
  );
  // Every lane is done before the test ends (the clean-up removes their directories): the first failure, if any.
  for (const l of lanes) if (l.status === 'rejected') throw l.reason;
}

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'rkt-bad-input-'));
  canary = join(tmp, 'canary');
  mkdirSync(canary);
  write('canary/keep', 'canary');
  fly = STAGE1S.find((s) => s.name === 'fly')!.aci;
  busybox = await buildBusyboxAci(tmp);
  written.add(busybox);
  // In each data directory, a store with the stage1 and an image, a prepared pod and an exited one: what every
  // failure must leave alone. The same images in each: the cases name them by ID.
  dataDirs = Array.from({ length: LANES }, (_, i) => join(tmp, `data${i === 0 ? '' : i}`));
  const lanes = await Promise.all(
    dataDirs.map(async (dataDir) => {
      const prepared = await rkt(dataDir, ['--insecure-options=image', 'prepare', '--quiet', `--stage1-path=${fly}`, busybox]);
      expect(prepared.status, prepared.stderr).toBe(0);
      const ran = await rkt(dataDir, ['--insecure-options=image', 'run', `--stage1-path=${fly}`, busybox, '--exec=/bin/true']);
      expect(ran.status, ran.stderr).toBe(0);
      const ids = (await rkt(dataDir, ['image', 'list', '--no-legend', '--full', '--fields=id,name'])).stdout.split('\n');
      expect((JSON.parse((await rkt(dataDir, ['list', '--format=json'])).stdout) as { state: string }[]).map((p) => p.state).sort()).toEqual(['exited', 'prepared']);
      return [ids.find((l) => l.includes('example.com/busybox'))!.split(/\s+/)[0]!, ids.find((l) => l.includes('stage1-fly'))!.split(/\s+/)[0]!] as [string, string];
    }),
  );
  [busyboxId, flyId] = lanes[0]!;
  expect([busyboxId, flyId]).toEqual([expect.stringMatching(/^sha512-[0-9a-f]{128}$/), expect.stringMatching(/^sha512-[0-9a-f]{128}$/)]);
  for (const ids of lanes) expect(ids).toEqual([busyboxId, flyId]);
}, 600_000);

afterAll(async () => {
  if (tmp === undefined) return;
  await Promise.all(dataDirs.map((dataDir) => rkt(dataDir, ['gc', '--grace-period=0s', '--expire-prepared=0s'])));
  rmSync(tmp, { recursive: true, force: true });
});

const MANIFEST = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bad' };
const manifest = (fields: Record<string, unknown> = {}) => JSON.stringify({ ...MANIFEST, ...fields });
const withApp = (app: Record<string, unknown>) => manifest({ app: { exec: ['/bin/sh'], user: '0', group: '0', ...app } });
const aci = (manifestText: string, ...rest: RawEntry[]) => rawTar([{ name: 'manifest', content: manifestText }, { name: 'rootfs/', type: '5', mode: 0o755 }, ...rest]);
/** An entry whose header claims 8 GiB (0o77777777777 bytes) and whose archive ends after one byte of it. */
const huge = (e: RawEntry) => Buffer.concat([rawHeader(e, 0o77777777777), Buffer.from('x')]);
const AC_IDENTIFIER = 'must be an AC Identifier (lowercase a-z, 0-9 and "-._~/", beginning and ending with a letter or digit)';
const AC_NAME = 'must be an AC Name (lowercase a-z, 0-9 and "-", beginning and ending with a letter or digit)';

/** Each malformed ACI and the reason every command gives after the file's name (`FILE: manifest: PATH: ...`, `FILE: entry ...`). */
function aciCases(): [string, Buffer, string][] {
  return [
    // Image manifests.
    ['not-json', aci('not json'), `manifest: invalid JSON: Unexpected token 'o', "not json" is not valid JSON`],
    ['kind', aci(manifest({ acKind: 'PodManifest' })), 'manifest: acKind: must be "ImageManifest", got "PodManifest"'],
    ['version', aci(manifest({ acVersion: 'x.y' })), 'manifest: acVersion: must be a SemVer 2.0.0 version such as "0.8.11"'],
    ['name', aci(manifest({ name: 'Bad_Name' })), `manifest: name: ${AC_IDENTIFIER}`],
    ['labels-object', aci(manifest({ labels: { version: '1' } })), 'manifest: labels: must be an array'],
    ['label-name', aci(manifest({ labels: [{ name: 'Bad Label', value: 'x' }] })), `manifest: labels[0].name: ${AC_IDENTIFIER}`],
    ['label-twice', aci(manifest({ labels: [{ name: 'os', value: 'linux' }, { name: 'os', value: 'linux' }] })), 'manifest: labels[1].name: duplicate label "os"'],
    ['label-os', aci(manifest({ labels: [{ name: 'os', value: 'plan9' }] })), 'manifest: labels[0].value: unsupported os "plan9" (one of: linux, freebsd, darwin)'],
    ['label-value', aci(manifest({ labels: [{ name: 'version', value: 1 }] })), 'manifest: labels[0].value: must be a string'],
    ['user', aci(withApp({ user: undefined })), 'manifest: app.user: is required'],
    ['group', aci(withApp({ group: 5 })), 'manifest: app.group: must be a string'],
    ['working-dir', aci(withApp({ workingDirectory: 'rel' })), 'manifest: app.workingDirectory: must be an absolute path'],
    ['port', aci(withApp({ ports: [{ name: 'http', protocol: 'tcp', port: 70000 }] })), 'manifest: app.ports[0].port: must be in the range 1-65535'],
    ['port-name', aci(withApp({ ports: [{ name: 'Bad Name', protocol: 'tcp', port: 80 }] })), `manifest: app.ports[0].name: ${AC_NAME}`],
    ['isolator-name', aci(withApp({ isolators: [{ name: 'Bad Name', value: {} }] })), `manifest: app.isolators[0].name: ${AC_IDENTIFIER}`],
    ['isolator-memory', aci(withApp({ isolators: [{ name: 'resource/memory', value: { limit: 'lots' } }] })), 'manifest: app.isolators[0].value.limit: must be a non-negative quantity such as "500m", "0.3", "1G", "16Mi" or "1e3" (suffixes n u m k K M G T P E Ki Mi Gi Ti Pi Ei)'],
    ['isolator-caps', aci(withApp({ isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: 'CAP_X' } }] })), 'manifest: app.isolators[0].value.set: must be an array of capability names'],
    ['mount-point', aci(withApp({ mountPoints: [{ name: 'Bad Name', path: '/x' }] })), `manifest: app.mountPoints[0].name: ${AC_NAME}`],
    ['env-name', aci(withApp({ environment: [{ name: '1BAD', value: 'x' }] })), 'manifest: app.environment[0].name: must be an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)'],
    ['env-twice', aci(withApp({ environment: [{ name: 'A', value: 'x' }, { name: 'A', value: 'y' }] })), 'manifest: app.environment[1].name: duplicate environment variable "A"'],
    ['handler-twice', aci(withApp({ eventHandlers: [{ name: 'pre-start', exec: ['/a'] }, { name: 'pre-start', exec: ['/b'] }] })), 'manifest: app.eventHandlers[1].name: duplicate eventHandler "pre-start"'],
    ['dependency-id', aci(manifest({ dependencies: [{ imageName: 'example.com/dep', imageID: 'sha512-xyz' }] })), 'manifest: dependencies[0].imageID: must be an image ID: "sha512-" followed by 128 lowercase hex digits'],
    ['dependency-name', aci(manifest({ dependencies: [{ imageName: 'Bad Dep' }] })), `manifest: dependencies[0].imageName: ${AC_IDENTIFIER}`],
    ['annotation-twice', aci(manifest({ annotations: [{ name: 'a', value: 'x' }, { name: 'a', value: 'y' }] })), 'manifest: annotations[1].name: duplicate annotation "a"'],
    ['whitelist', aci(manifest({ pathWhitelist: ['rel'] })), 'manifest: pathWhitelist[0]: must be an absolute path'],
    // Archives.
    ['empty', Buffer.alloc(0), 'is empty, not an ACI'],
    ['not-tar', Buffer.from('not an archive at all '.repeat(40)), 'not a tar archive (bad header checksum at offset 0)'],
    ['truncated-gzip', gzipSync(aci(manifest())).subarray(0, 30), 'gzip data is truncated (unexpected end of file)'],
    ['truncated-tar', aci(manifest()).subarray(0, 700), 'archive is truncated inside entry "manifest" (324 bytes missing)'],
    ['no-manifest', rawTar([{ name: 'rootfs/', type: '5' }, { name: 'rootfs/a', content: 'a' }]), 'no manifest in the archive'],
    ['manifest-dir', rawTar([{ name: 'manifest/', type: '5' }, { name: 'rootfs/', type: '5' }]), 'entry "manifest/" at offset 0: manifest must be a regular file, not a directory'],
    ['manifest-symlink', rawTar([{ name: 'manifest', type: '2', linkname: '/etc/passwd' }, { name: 'rootfs/', type: '5' }]), 'entry "manifest" at offset 0: manifest must be a regular file, not a symlink'],
    ['manifest-hardlink', rawTar([{ name: 'rootfs/', type: '5' }, { name: 'rootfs/m', content: manifest() }, { name: 'manifest', type: '1', linkname: 'rootfs/m' }]), 'entry "manifest" at offset 1536: manifest must be a regular file, not a hardlink'],
    ['manifest-twice', rawTar([{ name: 'manifest', content: manifest() }, { name: 'manifest', content: manifest() }, { name: 'rootfs/', type: '5' }]), 'entry "manifest" at offset 1024: is a duplicate entry'],
    ['no-rootfs', rawTar([{ name: 'manifest', content: manifest() }]), 'no rootfs directory entry in the archive'],
    ['rootfs-file', rawTar([{ name: 'manifest', content: manifest() }, { name: 'rootfs', content: 'x' }]), 'entry "rootfs" at offset 1024: rootfs must be a directory, not a file'],
    ['outside-rootfs', aci(manifest(), { name: 'other/file', content: 'x' }), 'entry "other/file" at offset 1536: is outside manifest and rootfs/'],
    ['huge-manifest', huge({ name: 'manifest' }), 'manifest is 8589934591 bytes, over the 1048576-byte limit'],
  ];
}

/** Archives that try to write outside the tree: refused, and nothing appears outside the data directory. */
function escapeCases(): [string, Buffer, string][] {
  const etcProbe = `rkt-ts-bad-input-${process.pid}`;
  return [
    ['dotdot', aci(manifest(), { name: 'rootfs/../../canary/dotdot', content: 'x' }), 'entry "rootfs/../../canary/dotdot" at offset 1536: has a ".." component'],
    ['absolute', aci(manifest(), { name: `${canary}/absolute`, content: 'x' }), `entry "${canary}/absolute" at offset 1536: has an absolute name`],
    ['through-symlink-etc', aci(manifest(), { name: 'rootfs/a', type: '2', linkname: '/etc' }, { name: `rootfs/a/${etcProbe}`, content: 'x' }), `entry "rootfs/a/${etcProbe}" at offset 2048: is under "rootfs/a", which is a symlink in this archive`],
    ['through-symlink-dir', aci(manifest(), { name: 'rootfs/a', type: '2', linkname: canary }, { name: 'rootfs/a/', type: '5' }, { name: 'rootfs/a/x', content: 'x' }), 'entry "rootfs/a/" at offset 2048: is a duplicate entry'],
    ['relative-symlink-out', aci(manifest(), { name: 'rootfs/a', type: '2', linkname: '../../../../../../../../canary' }), 'entry "rootfs/a" at offset 1536: is a symlink to "../../../../../../../../canary", which points outside rootfs'],
    ['hardlink-absolute', aci(manifest(), { name: 'rootfs/h', type: '1', linkname: `${canary}/keep` }), `entry "rootfs/h" at offset 1536: is a hardlink to "${canary}/keep", which has an absolute name`],
    ['hardlink-dotdot', aci(manifest(), { name: 'rootfs/h', type: '1', linkname: 'rootfs/../../canary/keep' }), 'entry "rootfs/h" at offset 1536: is a hardlink to "rootfs/../../canary/keep", which has a ".." component'],
    ['hardlink-manifest', aci(manifest(), { name: 'rootfs/h', type: '1', linkname: 'manifest' }), 'entry "rootfs/h" at offset 1536: is a hardlink to "manifest", which is not under rootfs/'],
    ['hardlink-later', aci(manifest(), { name: 'rootfs/h', type: '1', linkname: 'rootfs/later' }, { name: 'rootfs/later', content: 'x' }), 'entry "rootfs/h" at offset 1536: is a hardlink to "rootfs/later", which is not an earlier entry of the archive'],
    ['hardlink-absent', aci(manifest(), { name: 'rootfs/h', type: '1', linkname: 'rootfs/nothere' }), 'entry "rootfs/h" at offset 1536: is a hardlink to "rootfs/nothere", which is not an earlier entry of the archive'],
    ['hardlink-through-symlink', aci(manifest(), { name: 'rootfs/a', type: '2', linkname: canary }, { name: 'rootfs/h', type: '1', linkname: 'rootfs/a/keep' }), 'entry "rootfs/h" at offset 2048: is a hardlink to "rootfs/a/keep", which is not an earlier entry of the archive'],
    ['huge-entry', Buffer.concat([rawTar([{ name: 'manifest', content: manifest() }, { name: 'rootfs/', type: '5' }], { end: false }), huge({ name: 'rootfs/big' })]), 'archive is truncated inside entry "rootfs/big" (8589934591 bytes missing)'],
    ['huge-pax-header', Buffer.concat([rawTar([{ name: 'manifest', content: manifest() }, { name: 'rootfs/', type: '5' }], { end: false }), huge({ name: 'PaxHeader', type: 'x' })]), 'extended header at offset 1536 is 8589934591 bytes, over the 1048576-byte limit'],
    ['huge-long-name', Buffer.concat([rawTar([{ name: 'manifest', content: manifest() }, { name: 'rootfs/', type: '5' }], { end: false }), huge({ name: '././@LongLink', type: 'L' })]), 'extended header at offset 1536 is 8589934591 bytes, over the 1048576-byte limit'],
  ];
}

const PREPARED = new Set(['not-json', 'kind', 'label-twice', 'env-twice', 'dependency-id', 'not-tar', 'truncated-gzip', 'no-manifest', 'manifest-symlink',
  'no-rootfs', 'dotdot', 'absolute', 'through-symlink-etc', 'hardlink-absolute', 'hardlink-later', 'huge-pax-header']);

describe('malformed ACIs and image manifests', () => {
  it('rkt fetch and rkt prepare refuse each in one line naming the file, the entry or the JSON path', async () => {
    const all = [...aciCases(), ...escapeCases()];
    const cases: Case[] = [];
    for (const [name, bytes, why] of all) {
      const file = write(`${name}.aci`, bytes);
      cases.push({ args: ['--insecure-options=image', 'fetch', file], line: `fetch: ${file}: ${why}` });
      // run/prepare import a file themselves, through the same scan (a prepare costs several fetches: a sample).
      if (!PREPARED.has(name)) continue;
      cases.push({ args: ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`, file], line: `prepare: ${file}: ${why}` });
    }
    expect([...PREPARED].filter((n) => !all.some(([name]) => name === n))).toEqual([]);
    const outside = tree(tmp, dataDirs);
    await sweep(cases);
    // Nothing was written outside the data directories: not in the canary directory, not in /etc.
    expect(tree(tmp, dataDirs)).toEqual(outside);
    expect(readdirSync(canary)).toEqual(['keep']);
    expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('canary');
    expect(existsSync(`/etc/rkt-ts-bad-input-${process.pid}`)).toBe(false);
  });
});

describe('the same malformed ACI', () => {
  it('is the same line from fetch, run, prepare and --stage1-path: FILE: manifest: PATH: problem, FILE: entry ...', async () => {
    const bad: [string, Buffer, string][] = [
      ['same-manifest', aci(manifest({ name: 'Bad_Name' })), `manifest: name: ${AC_IDENTIFIER}`],
      ['same-app', aci(withApp({ user: undefined })), 'manifest: app.user: is required'],
      ['same-json', aci('{"acKind":'), 'manifest: invalid JSON: Unexpected end of JSON input'],
      ['same-entry', aci(manifest(), { name: 'rootfs/../x', content: 'x' }), 'entry "rootfs/../x" at offset 1536: has a ".." component'],
      ['same-archive', Buffer.from('not an archive at all '.repeat(40)), 'not a tar archive (bad header checksum at offset 0)'],
    ];
    const cases: Case[] = bad.flatMap(([name, bytes, why]) => {
      const file = write(`${name}.aci`, bytes);
      const line = `${file}: ${why}`;
      return [
        { args: ['--insecure-options=image', 'fetch', file], line: `fetch: ${line}` },
        { args: ['--insecure-options=image', 'run', `--stage1-path=${fly}`, file], line: `run: ${line}` },
        { args: ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`, file], line: `prepare: ${line}` },
        { args: ['--insecure-options=image', 'run', `--stage1-path=${file}`, busybox], line: `run: ${line}` },
        { args: ['--insecure-options=image', 'prepare', `--stage1-path=${file}`, busybox], line: `prepare: ${line}` },
      ];
    });
    await sweep(cases);
  });
});

describe('malformed pod manifests given with --pod-manifest', () => {
  it('are one line naming the file and the JSON path', async () => {
    const pm = (name: string, m: unknown) => write(`${name}.json`, typeof m === 'string' ? m : JSON.stringify(m));
    const pod = (fields: Record<string, unknown>) => ({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'a', image: { id: busyboxId } }], ...fields });
    const app = (fields: Record<string, unknown>) => pod({ apps: [{ name: 'a', image: { id: busyboxId }, ...fields }] });
    const zeros = `sha512-${'0'.repeat(128)}`;
    const cases: [string, unknown, string][] = [
      ['truncated', '{"acKind":', 'invalid JSON: Unexpected end of JSON input'],
      ['empty', '', 'invalid JSON: Unexpected end of JSON input'],
      ['kind', pod({ acKind: 'ImageManifest' }), 'acKind: must be "PodManifest", got "ImageManifest"'],
      ['version', pod({ acVersion: '1' }), 'acVersion: must be a SemVer 2.0.0 version such as "0.8.11"'],
      ['no-apps', { acKind: 'PodManifest', acVersion: '0.8.11' }, 'apps: is required'],
      ['zero-apps', pod({ apps: [] }), 'apps: a pod needs at least one app'],
      ['app-name', pod({ apps: [{ name: 'Bad', image: { id: busyboxId } }] }), `apps[0].name: ${AC_NAME}`],
      ['app-twice', pod({ apps: [{ name: 'a', image: { id: busyboxId } }, { name: 'a', image: { id: busyboxId } }] }), 'apps[1].name: duplicate app name "a"'],
      ['image-id', pod({ apps: [{ name: 'a', image: { id: 'sha512-zz' } }] }), 'apps[0].image.id: must be an image ID: "sha512-" followed by 128 lowercase hex digits'],
      ['image-absent', pod({ apps: [{ name: 'a', image: { id: zeros } }] }), `apps[0].image.id: no image with ID ${zeros} in the store`],
      ['image-name-absent', pod({ apps: [{ name: 'a', image: { name: 'example.com/absent' } }] }), 'apps[0].image: no image named example.com/absent in the store'],
      ['app-user', app({ app: { exec: ['/bin/true'], group: '0' } }), 'apps[0].app.user: is required'],
      ['app-env', app({ app: { exec: ['/bin/true'], user: '0', group: '0', environment: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] } }), 'apps[0].app.environment[1].name: duplicate environment variable "A"'],
      ['volume-kind', pod({ volumes: [{ name: 'v', kind: 'weird' }] }), 'volumes[0].kind: must be "host" or "empty"'],
      ['volume-source', pod({ volumes: [{ name: 'v', kind: 'host', source: 'rel' }] }), 'volumes[0].source: must be an absolute path'],
      ['volume-twice', pod({ volumes: [{ name: 'v', kind: 'empty' }, { name: 'v', kind: 'empty' }] }), 'volumes[1].name: duplicate volume name "v"'],
      ['mount-volume', app({ mounts: [{ volume: 'nope', path: '/x' }] }), 'apps[0].mounts[0].volume: "nope" is not a volume of the pod (the manifest has no volumes)'],
      ['port', pod({ ports: [{ name: 'http', hostPort: 99999 }] }), 'ports[0].hostPort: must be in the range 1-65535'],
      ['isolator', pod({ isolators: [{ name: 'resource/memory', value: { limit: 'x' } }] }), 'isolators[0].value.limit: must be a non-negative quantity such as "500m", "0.3", "1G", "16Mi" or "1e3" (suffixes n u m k K M G T P E Ki Mi Gi Ti Pi Ei)'],
      ['annotation', pod({ annotations: [{ name: 'Bad', value: 'x' }] }), `annotations[0].name: ${AC_IDENTIFIER}`],
    ];
    const all: Case[] = cases.flatMap(([name, m, why]) => {
      const file = pm(name, m);
      // `run` shares prepare's reading of the manifest: a sample of it.
      return (['truncated', 'zero-apps', 'image-absent', 'mount-volume'].includes(name) ? ['prepare', 'run'] : ['prepare']).map((cmd) => ({ args: ['--insecure-options=image', cmd, `--stage1-path=${fly}`, `--pod-manifest=${file}`], line: `${cmd}: ${file}: ${why}` }));
    });
    all.push(
      { args: ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`, '--pod-manifest=missing.json'], line: 'prepare: --pod-manifest missing.json: ENOENT: no such file or directory' },
      { args: ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`, `--pod-manifest=${canary}`], line: `prepare: --pod-manifest ${canary}: EISDIR: illegal operation on a directory` },
    );
    await sweep(all);
  });
});

describe('bad flags', () => {
  it('are one line naming the flag and the value', async () => {
    const cases: Case[] = [
      { args: ['--nope', 'list'], line: 'list: unknown flag: --nope (run "rkt help list" for usage)' },
      { args: ['list', '--nope'], line: 'list: unknown flag: --nope (run "rkt help list" for usage)' },
      { args: ['image', 'list', '--nope'], line: 'image list: unknown flag: --nope (run "rkt help image list" for usage)' },
      { args: ['run', '--set-env'], line: 'run: flag needs an argument: --set-env (run "rkt help run" for usage)' },
      { args: ['prepare', '--set-env=FOO', busybox], line: 'prepare: --set-env: "FOO" is not NAME=VALUE' },
      { args: ['prepare', '--set-env=1A=x', busybox], line: 'prepare: --set-env: "1A" is not an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)' },
      { args: ['prepare', '--volume=x', busybox], line: 'prepare: --volume "x": kind is required (kind=host or kind=empty)' },
      { args: ['prepare', '--volume=v,kind=host', busybox], line: 'prepare: --volume "v,kind=host": source is required for kind=host' },
      { args: ['prepare', '--volume=v,kind=weird', busybox], line: 'prepare: --volume "v,kind=weird": kind must be "host" or "empty", not "weird"' },
      { args: ['prepare', '--volume=Bad,kind=empty', busybox], line: 'prepare: --volume "Bad,kind=empty": volume name "Bad" is not a valid AC Name (lowercase a-z, 0-9 and -)' },
      { args: ['prepare', '--volume=v,kind=host,source=rel', busybox], line: 'prepare: --volume "v,kind=host,source=rel": source "rel" must be an absolute path' },
      { args: ['prepare', '--volume=v,kind=empty,readOnly=maybe', busybox], line: 'prepare: --volume "v,kind=empty,readOnly=maybe": readOnly must be true or false, not "maybe"' },
      { args: ['prepare', '--mount=volume=v', busybox], line: 'prepare: --mount "volume=v": target=PATH is required' },
      { args: ['prepare', '--mount=foo', busybox], line: 'prepare: --mount "foo": "foo" is not key=value' },
      { args: ['prepare', '--mount=volume=v,target=/x', busybox], line: 'prepare: --mount volume=v,target=/x: no --volume named "v"' },
      { args: ['prepare', '--memory=64M', busybox], line: 'prepare: --memory must follow an image' },
      { args: ['prepare', busybox, '--memory=lots'], line: 'prepare: --memory=lots: not a quantity with a unit such as 512M (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)' },
      { args: ['prepare', busybox, '--memory=-5M'], line: 'prepare: --memory=-5M: not a quantity with a unit such as 512M (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)' },
      { args: ['prepare', busybox, '--cpu=abc'], line: 'prepare: --cpu=abc: not a quantity with a unit such as 500m (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)' },
      { args: ['prepare', busybox, '--cpu-shares=x'], line: 'prepare: --cpu-shares=x: not an integer' },
      { args: ['prepare', busybox, '--oom-score-adj=5000'], line: 'prepare: --oom-score-adj=5000: must be from -1000 to 1000' },
      { args: ['prepare', busybox, '--caps-retain=CAP_BOGUS'], line: 'prepare: --caps-retain=CAP_BOGUS: unknown capability "CAP_BOGUS"' },
      { args: ['prepare', busybox, '--working-dir=rel'], line: 'prepare: --working-dir "rel": must be an absolute path' },
      { args: ['prepare', busybox, '--exec='], line: 'prepare: app "busybox": exec is an empty string; give a program with --exec' },
      { args: ['prepare', busybox, '--name=Bad'], line: 'prepare: app name "Bad" is not a valid AC Name (lowercase a-z, 0-9 and -)' },
      { args: ['prepare', '--user=0', busybox], line: 'prepare: --user must follow an image' },
      { args: ['prepare', `--uuid-file-save=${join(tmp, 'no-such-dir', 'uuid')}`, busybox], line: `prepare: --uuid-file-save ${join(tmp, 'no-such-dir', 'uuid')}: cannot write the pod UUID: ENOENT: no such file or directory` },
      { args: ['--insecure-options=bogus', 'prepare', busybox], line: 'prepare: invalid value "bogus" for --insecure-options: "bogus" is not a valid option; allowed values: none, image, tls, ondisk, http, pubkey, capabilities, paths, seccomp, run-all, all-fetch, all-run, all (run "rkt help prepare" for usage)' },
      { args: ['prepare', '--pull-policy=bogus', busybox], line: 'prepare: invalid argument "bogus" for --pull-policy: must be one of new, update, never' },
      { args: ['fetch', '--pull-policy=bogus', busybox], line: 'fetch: invalid argument "bogus" for --pull-policy: must be one of new, update, never' },
      { args: ['run', '--net=,host', busybox], line: 'run: --net=,host: netname must not be empty' },
      { args: ['run', '--dns=notanip', busybox], line: 'run: --dns=notanip: notanip is not an IP address' },
      { args: ['run', '--dns-opt=', busybox], line: 'run: --dns-opt="": must be a resolver option, NAME or NAME:NUMBER (ndots:2, rotate)' },
      { args: ['run', '--dns-search=bad domain', busybox], line: 'run: --dns-search="bad domain": must be DNS labels (letters, digits, underscores, inner hyphens; 63 at most) joined by dots' },
      { args: ['run', '--dns-domain=...', busybox], line: 'run: --dns-domain=...: must be DNS labels (letters, digits, underscores, inner hyphens; 63 at most) joined by dots' },
      { args: ['run', '--hosts-entry=foo', busybox], line: 'run: --hosts-entry=foo: foo is not IP=HOSTNAME' },
      { args: ['run', '--hostname=bad host', busybox], line: 'run: --hostname "bad host": must be DNS labels (letters, digits, inner hyphens) joined by dots' },
      { args: ['run', '--interactive=maybe', busybox], line: 'run: invalid value "maybe" for --interactive: expected true or false (run "rkt help run" for usage)' },
      { args: ['gc', '--grace-period=forever'], line: 'gc: invalid argument "forever" for --grace-period: not a duration (examples: 30m, 1h30m, 0s)' },
      { args: ['list', '--format=yaml'], line: 'list: invalid value "yaml" for --format: allowed values: "", json, json-pretty (run "rkt help list" for usage)' },
      { args: ['image', 'list', '--fields=bogus'], line: 'image list: invalid argument "bogus" for --fields: unknown field "bogus" (accepted: id, name, size, importtime, lastused, latest)' },
      { args: ['image', 'list', '--order=up'], line: 'image list: invalid value "up" for --order: allowed values: asc, desc (run "rkt help image list" for usage)' },
      { args: ['--dir=', 'list'], line: 'list: invalid value "" for --dir: "" is not a valid directory (run "rkt help list" for usage)' },
      { args: ['run', '--stage1-path=/nonexistent', busybox], line: 'run: stage1 image /nonexistent: no such file' },
      { args: ['run', `--stage1-path=${canary}`, busybox], line: `run: stage1 image ${canary}: not a file` },
    ];
    // Every run/prepare above has its stage1 (so a failure past the flags could not import the default one).
    await sweep(cases.map((c) => (['run', 'prepare'].includes(c.args[0]!) && !c.args.some((a) => a.startsWith('--stage1-')) ? { ...c, args: ['--insecure-options=image', c.args[0]!, `--stage1-path=${fly}`, ...c.args.slice(1)] } : c)));
  });
});

describe('bad image strings', () => {
  it('are one line naming the string and what is wrong with it, the same from every command, asking no server', async () => {
    const RULE = '(lowercase a-z0-9-._~/, alphanumeric at both ends)';
    // fetch reads image strings with the fetcher, run/prepare and the image commands with the store: one parser.
    const strings: [string, string][] = [
      ['', 'empty image string'],
      ['sha512-zz', 'invalid image ID "sha512-zz": expected "sha512-" and 2 to 128 lowercase hex digits'],
      [`sha512-${'0'.repeat(130)}`, `invalid image ID "sha512-${'0'.repeat(130)}": expected "sha512-" and 2 to 128 lowercase hex digits`],
      ['a:b:c', '"a:b:c": label version is given twice'],
      ['example.com/app:v1,version=v2', '"example.com/app:v1,version=v2": label version is given twice'],
      ['example.com/app,os=linux,os=linux', '"example.com/app,os=linux,os=linux": label os is given twice'],
      ['example.com/app,name=other', '"example.com/app,name=other": the name is given twice'],
      ['example.com/app,os=', '"example.com/app,os=": label os has an empty value (expected os=VALUE)'],
      ['example.com/app:', '"example.com/app:": label version has an empty value (expected version=VALUE)'],
      ['example.com/app,channel', '"example.com/app,channel": label "channel" has no value (expected label=value)'],
      [',os=linux', `",os=linux": "" is not a valid image name ${RULE}`],
      ['Bad Name', `"Bad Name" is not a valid image name ${RULE}`],
      ['example.com/app,Bad=x', `"example.com/app,Bad=x": "Bad" is not a valid label name ${RULE}`],
    ];
    const commands: Record<string, (image: string) => string[]> = {
      fetch: (image) => ['--insecure-options=image', 'fetch', image],
      run: (image) => ['--insecure-options=image', 'run', `--stage1-path=${fly}`, image],
      prepare: (image) => ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`, image],
      'image rm': (image) => ['image', 'rm', image],
      'image cat-manifest': (image) => ['image', 'cat-manifest', image],
    };
    const cases: Case[] = Object.entries(commands).flatMap(([cmd, args]) => strings.map(([image, why]) => ({ args: args(image), line: `${cmd}: ${why}` })));
    for (const cmd of ['fetch', 'prepare']) {
      const pre = cmd === 'fetch' ? ['--insecure-options=image', 'fetch'] : ['--insecure-options=image', 'prepare', `--stage1-path=${fly}`];
      cases.push(
        { args: [...pre, 'ftp://example.com/x.aci'], line: `${cmd}: ftp://example.com/x.aci: unsupported URL scheme "ftp" (supported: http, https, file, docker)` },
        { args: [...pre, 'docker://Busybox'], line: `${cmd}: docker://Busybox: invalid docker image reference: repository name "Busybox" must be lowercase` },
        { args: [...pre, 'http://127.0.0.1:1/x.aci'], line: `${cmd}: http://127.0.0.1:1/x.aci: plain http is not allowed; use https or --insecure-options=http` },
        { args: [...pre, './missing.aci'], line: cmd === 'fetch' ? 'fetch: ./missing.aci: no such file' : `prepare: image file ${join(tmp, 'missing.aci')}: no such file` },
        { args: [...pre, canary], line: cmd === 'fetch' ? `fetch: ${canary}: not a file` : `prepare: image file ${canary}: not a file` },
      );
    }
    // Without --insecure-options=image a directory is still a directory, not an image without its signature.
    cases.push({ args: ['prepare', `--stage1-hash=${flyId}`, './canary'], line: `prepare: image file ${canary}: not a file` });
    cases.push({ args: ['fetch', './canary'], line: 'fetch: ./canary: not a file' });
    await sweep(cases);
  });
});
