// What the run entrypoint refuses before booting a pod: an app whose exec or working directory its root
// filesystem lacks. Paths resolve as the app sees them, through the image's own links, never the host's.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAppPaths } from '../src/app-paths.js';

let rootfs: string;
beforeEach(() => {
  rootfs = mkdtempSync(join(tmpdir(), 'stage1-systemd-app-paths-'));
  mkdirSync(join(rootfs, 'usr/bin'), { recursive: true });
  writeFileSync(join(rootfs, 'usr/bin/app'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(rootfs, 'usr/bin/data'), 'not a program\n', { mode: 0o644 });
  // A merged /usr, as Debian's: /bin is a link, absolute here, which must resolve inside the root.
  symlinkSync('/usr/bin', join(rootfs, 'bin'));
  mkdirSync(join(rootfs, 'srv/work'), { recursive: true });
  // A link out of the root on the host; inside the app it is the root's own /etc, which does not exist.
  symlinkSync('/etc', join(rootfs, 'etc-link'));
});
afterEach(() => rmSync(rootfs, { recursive: true, force: true }));

describe('checkAppPaths', () => {
  it("accepts an executable and a working directory the app's root has, through its own links", async () => {
    await checkAppPaths(rootfs, 'web', ['/bin/app', '--flag'], '/srv/work');
    await checkAppPaths(rootfs, 'web', ['/usr/bin/app'], '/');
  });

  it('refuses a missing, non-regular or non-executable exec, naming the app and the path', async () => {
    await expect(checkAppPaths(rootfs, 'web', ['/bin/missing'], '/')).rejects.toThrow('app web: cannot execute /bin/missing: no such file in its root filesystem');
    await expect(checkAppPaths(rootfs, 'web', ['/srv'], '/')).rejects.toThrow('app web: cannot execute /srv: not a regular file');
    await expect(checkAppPaths(rootfs, 'web', ['/bin/data'], '/')).rejects.toThrow('app web: cannot execute /bin/data: not executable');
    chmodSync(join(rootfs, 'usr/bin/data'), 0o700);
    await checkAppPaths(rootfs, 'web', ['/bin/data'], '/');
  });

  it("refuses a working directory the root lacks, or that is not a directory, without looking on the host", async () => {
    await expect(checkAppPaths(rootfs, 'web', ['/bin/app'], '/srv/missing')).rejects.toThrow(
      'app web: working directory /srv/missing: no such directory in its root filesystem',
    );
    await expect(checkAppPaths(rootfs, 'web', ['/bin/app'], '/bin/app')).rejects.toThrow('app web: working directory /bin/app: not a directory');
    // The host has /etc: the app does not.
    await expect(checkAppPaths(rootfs, 'web', ['/bin/app'], '/etc-link')).rejects.toThrow('app web: working directory /etc-link: no such directory');
  });
});
