import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PATH, flyExecArgs, resolveExecSpec } from '../src/index.js';

let rootfs: string;
beforeEach(() => {
  rootfs = mkdtempSync(join(tmpdir(), 'fly-rootfs-'));
  mkdirSync(join(rootfs, 'etc'));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nwww:x:44:\n');
});
afterEach(() => rmSync(rootfs, { recursive: true, force: true }));

describe('resolveExecSpec', () => {
  it("resolves names against the app's own /etc/passwd and /etc/group, and paths to their owner", () => {
    writeFileSync(join(rootfs, 'owned'), '');
    chownSync(join(rootfs, 'owned'), 77, 88);
    const byName = resolveExecSpec({ rootfs, appName: 'a', app: { exec: ['/bin/x'], user: 'web', group: 'www' } });
    expect([byName.uid, byName.gid]).toEqual([33, 44]);
    const byPath = resolveExecSpec({ rootfs, appName: 'a', app: { exec: ['/bin/x'], user: '/owned', group: '/owned' } });
    expect([byPath.uid, byPath.gid]).toEqual([77, 88]);
    const numeric = resolveExecSpec({ rootfs, appName: 'a', app: { exec: ['/bin/x'], user: '5', group: '6', supplementaryGIDs: [7, 8] } });
    expect(flyExecArgs(numeric)).toEqual([rootfs, '5', '6', '7,8', '/', '--', '/bin/x']);
  });

  it('refuses an unknown user in one line naming the app and the file', () => {
    expect(() => resolveExecSpec({ rootfs, appName: 'web', app: { exec: ['/bin/x'], user: 'nobody', group: '0' } })).toThrow(
      'app "web": no user "nobody" in /etc/passwd of its rootfs',
    );
  });

  it("builds the environment: inherited, then the app's, then AC_APP_NAME; PATH defaulted", () => {
    const spec = resolveExecSpec({
      rootfs,
      appName: 'web',
      app: { exec: ['/bin/x', 'a'], user: '0', group: '0', workingDirectory: '/srv', environment: [{ name: 'HOME', value: '/app' }] },
      inherited: { HOME: '/root', TERM: 'xterm' },
    });
    expect(spec.env).toEqual({ HOME: '/app', TERM: 'xterm', PATH: DEFAULT_PATH, AC_APP_NAME: 'web' });
    expect(spec.cwd).toBe('/srv');
    expect(spec.argv).toEqual(['/bin/x', 'a']);
  });
});
