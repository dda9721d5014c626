// What the run entrypoint refuses before booting a pod: an app whose exec or working directory its root
// filesystem lacks; and where it finds a relative exec. Paths resolve as the app sees them, through the image's
// own links, never the host's.
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
  // A PATH entry linking out of the root: on the host /usr/bin has `env`, the app's /usr/bin does not.
  symlinkSync('/usr/bin', join(rootfs, 'srv/hostbin'));
  writeFileSync(join(rootfs, 'srv/work/tool'), '#!/bin/sh\n', { mode: 0o755 });
});
afterEach(() => rmSync(rootfs, { recursive: true, force: true }));

describe('checkAppPaths', () => {
  it("accepts an executable and a working directory the app's root has, through its own links", async () => {
    expect(await checkAppPaths(rootfs, 'web', ['/bin/app', '--flag'], '/srv/work')).toEqual(['/bin/app', '--flag']);
    expect(await checkAppPaths(rootfs, 'web', ['/usr/bin/app'], '/')).toEqual(['/usr/bin/app']);
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

  it("finds a bare name in the app's PATH, in order, relative entries after the working directory, through the root's own links", async () => {
    // Found through the link /bin -> /usr/bin; the app runs the candidate's path, not where its links lead.
    expect(await checkAppPaths(rootfs, 'web', ['app', '-x'], '/', '/nowhere:/bin:/usr/bin')).toEqual(['/bin/app', '-x']);
    // /usr/bin/data is not executable: skipped, as execvp skips it; `tool` only in the working directory.
    chmodSync(join(rootfs, 'usr/bin/data'), 0o644);
    writeFileSync(join(rootfs, 'srv/work/data'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await checkAppPaths(rootfs, 'web', ['data'], '/srv/work', '/usr/bin:.')).toEqual(['/srv/work/data']);
    expect(await checkAppPaths(rootfs, 'web', ['tool'], '/srv/work', 'bin:')).toEqual(['/srv/work/tool']);
  });

  it('without a PATH, looks in the working directory, /bin and /usr/bin', async () => {
    expect(await checkAppPaths(rootfs, 'web', ['tool'], '/srv/work')).toEqual(['/srv/work/tool']);
    expect(await checkAppPaths(rootfs, 'web', ['app'], '/srv/work')).toEqual(['/bin/app']);
    await expect(checkAppPaths(rootfs, 'web', ['nope'], '/srv/work')).rejects.toThrow(
      'app web: cannot execute nope: not found in /srv/work, /bin or /usr/bin (its environment has no PATH) in its root filesystem',
    );
  });

  it("resolves a PATH entry that links out of the root inside the root, never on the host", async () => {
    // The host's /usr/bin has env; the app's /srv/hostbin -> /usr/bin is its own /usr/bin, which has not.
    await expect(checkAppPaths(rootfs, 'web', ['env'], '/', '/srv/hostbin')).rejects.toThrow(
      'app web: cannot execute env: not found in its PATH (/srv/hostbin) in its root filesystem',
    );
    expect(await checkAppPaths(rootfs, 'web', ['app'], '/', '/srv/hostbin')).toEqual(['/srv/hostbin/app']);
  });

  it('joins a relative path with a slash to the working directory, and checks it as an absolute one', async () => {
    expect(await checkAppPaths(rootfs, 'web', ['bin/app', 'a'], '/')).toEqual(['/bin/app', 'a']);
    expect(await checkAppPaths(rootfs, 'web', ['../../usr/bin/app'], '/srv/work')).toEqual(['/usr/bin/app']);
    await expect(checkAppPaths(rootfs, 'web', ['./app'], '/srv/work')).rejects.toThrow('app web: cannot execute ./app (/srv/work/app): no such file in its root filesystem');
    await expect(checkAppPaths(rootfs, 'web', ['bin/data'], '/')).rejects.toThrow('app web: cannot execute bin/data (/bin/data): not executable');
  });
});
