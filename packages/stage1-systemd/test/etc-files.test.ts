import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountPoints, writeEtcFiles } from '../src/etc-files.js';

let root: string;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'etc-files-')));
  mkdirSync(join(root, 'etc'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('writeEtcFiles', () => {
  it('writes /etc/hostname and /etc/hosts into the root when nothing is mounted there', () => {
    expect(writeEtcFiles(root, 'rkt-x', new Set())).toEqual([]);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toContain('localhost');
  });

  it('writes nothing into a volume at /etc, nor over a volume at /etc/hostname', () => {
    writeFileSync(join(root, 'etc/hostname'), 'host\n');
    expect(writeEtcFiles(root, 'rkt-x', new Set([join(root, 'etc')]))).toEqual([
      '/etc/hostname not written: a volume is mounted at /etc',
      '/etc/hosts not written: a volume is mounted at /etc',
    ]);
    expect(readdirSync(join(root, 'etc'))).toEqual(['hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect(writeEtcFiles(root, 'rkt-x', new Set([join(root, 'etc/hostname')]))).toEqual(['/etc/hostname not written: a volume is mounted at /etc/hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toContain('localhost');
  });

  it("reads mount points from mountinfo, its escapes decoded", () => {
    const line = '36 35 98:0 /mnt1 /var/tmp/a\\040b/rootfs/etc rw,noatime master:1 - ext3 /dev/root rw';
    expect(mountPoints(`${line}\n`).has('/var/tmp/a b/rootfs/etc')).toBe(true);
  });
});
