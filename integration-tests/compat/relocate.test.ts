// relocate.ts, the one step between extracting a fixture and opening it: the data directory's recorded
// path rewritten where rkt-ts writes it, times kept, and anything else naming it refused by name.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { relocateDataDir } from './relocate.js';

const FROM = '/var/tmp/rkt-ts-compat/abc1234';
const UUID = '11111111-2222-4333-8444-555555555555';
const OLD_TIME = new Date('2026-11-28T00:00:00Z');
let tmp: string;
let dir: string;

beforeEach(() => {
  tmp = mkdtempSync('/var/tmp/rkt-ts-compat-relocate-test-');
  dir = join(tmp, 'abc1234');
  const pod = join(dir, 'pods', 'run', UUID);
  mkdirSync(join(dir, 'cas', 'refs'), { recursive: true });
  mkdirSync(join(pod, 'stage1'), { recursive: true });
  writeFileSync(join(dir, 'cas', 'refs', `${UUID}.json`), JSON.stringify({ podUuid: UUID, podDirs: [`${FROM}/pods/prepared/${UUID}`, `${FROM}/pods/run/${UUID}`] }));
  writeFileSync(join(pod, 'pod-info.json'), JSON.stringify({ uuid: UUID, apps: [{ lower: `${FROM}/cas/trees/t1/rootfs` }] }, null, 2));
  symlinkSync(`${FROM}/cas/trees/s1/rootfs`, join(pod, 'stage1', 'rootfs'));
  // Paths that are not the data directory's stay as they are.
  writeFileSync(join(pod, 'pod'), JSON.stringify({ remote: 'file:///var/tmp/rkt-ts-compat-build/x.aci' }));
  for (const p of [join(pod, 'pod-info.json'), join(pod, 'stage1'), pod]) utimesSync(p, OLD_TIME, OLD_TIME);
});

afterEach(() => rmSync(tmp, { recursive: true, force: true }));

test('rewrites the references, pod-info.json and the stage1 links to the new place, keeping their times', () => {
  const pod = join(dir, 'pods', 'run', UUID);
  expect(relocateDataDir(dir, FROM)).toEqual({
    files: [`cas/refs/${UUID}.json`, `pods/run/${UUID}/pod-info.json`],
    links: [`pods/run/${UUID}/stage1/rootfs`],
  });
  expect(JSON.parse(readFileSync(join(dir, 'cas', 'refs', `${UUID}.json`), 'utf8'))).toEqual({
    podUuid: UUID,
    podDirs: [`${dir}/pods/prepared/${UUID}`, `${dir}/pods/run/${UUID}`],
  });
  expect(JSON.parse(readFileSync(join(pod, 'pod-info.json'), 'utf8'))).toEqual({ uuid: UUID, apps: [{ lower: `${dir}/cas/trees/t1/rootfs` }] });
  expect(readlinkSync(join(pod, 'stage1', 'rootfs'))).toBe(`${dir}/cas/trees/s1/rootfs`);
  expect(readFileSync(join(pod, 'pod'), 'utf8')).toContain('file:///var/tmp/rkt-ts-compat-build/x.aci');
  for (const p of [join(pod, 'pod-info.json'), join(pod, 'stage1'), pod]) expect(lstatSync(p).mtime, p).toEqual(OLD_TIME);
});

test('a file it does not rewrite that names the old path is refused by name', () => {
  writeFileSync(join(dir, 'pods', 'run', UUID, 'pod'), `{"dataDir":"${FROM}"}`);
  expect(() => relocateDataDir(dir, FROM)).toThrow(`relocate: pods/run/${UUID}/pod holds the data directory's path ${FROM}, and is not a file relocate.ts rewrites`);
});

test('a rewritten file naming the old path other than as the start of a string is refused', () => {
  writeFileSync(join(dir, 'pods', 'run', UUID, 'pod-info.json'), JSON.stringify({ note: `moved from ${FROM}` }));
  expect(() => relocateDataDir(dir, FROM)).toThrow(`relocate: pods/run/${UUID}/pod-info.json mentions ${FROM} other than as the start of a JSON string`);
});
