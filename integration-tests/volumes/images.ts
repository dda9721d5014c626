// Images for the volume tests: busybox with the applets the tests use, and whatever mount points and
// symlinks a test needs in its rootfs.
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildAciFromLayout } from '@rkt/appc-spec';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'true', 'cat', 'ls', 'stat', 'grep', 'sleep', 'test', 'mkdir', 'touch', 'id', 'readlink'];

export interface ImageSpec {
  /** The image name's last element, also the default app name. */
  readonly name: string;
  readonly mountPoints?: ReadonlyArray<{ name: string; path: string; readOnly?: boolean }>;
  /** Symlinks to plant in the rootfs: path in the rootfs -> link target, verbatim. */
  readonly links?: Readonly<Record<string, string>>;
  /** Regular files to put in the rootfs: path in the rootfs -> content. */
  readonly files?: Readonly<Record<string, string>>;
  /** Where the image's /etc (passwd and group) really is: `/etc` is then an absolute link to it (`/usr/etc`). */
  readonly etcAt?: string;
  /** What the /etc link says, when not `etcAt` (`/etc` itself: a loop). */
  readonly etcLink?: string;
  /** The app's user and group (default `0`): a name is looked up in the image's /etc/passwd and /etc/group. */
  readonly user?: string;
  readonly group?: string;
}

export async function buildImage(dir: string, spec: ImageSpec): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  const layout = join(dir, `${spec.name}-layout`);
  const rootfs = join(layout, 'rootfs');
  const etc = join(rootfs, spec.etcAt ?? '/etc');
  for (const d of ['bin', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  mkdirSync(etc, { recursive: true });
  if (spec.etcAt !== undefined) symlinkSync(spec.etcLink ?? spec.etcAt, join(rootfs, 'etc'));
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nappuser:x:1000:1000::/:/bin/sh\n');
  writeFileSync(join(etc, 'group'), 'root:x:0:\nappgroup:x:1001:\n');
  // Written on the host: a path through the image's /etc link would be the host's /etc.
  const through = [...Object.keys(spec.links ?? {}), ...Object.keys(spec.files ?? {})].find((p) => spec.etcAt !== undefined && /^\/?etc(\/|$)/.test(p));
  if (through !== undefined) throw new Error(`buildImage: ${through} goes through the /etc link; name it under ${spec.etcAt}`);
  for (const [path, target] of Object.entries(spec.links ?? {})) {
    mkdirSync(dirname(join(rootfs, path)), { recursive: true });
    symlinkSync(target, join(rootfs, path));
  }
  for (const [path, text] of Object.entries(spec.files ?? {})) {
    mkdirSync(dirname(join(rootfs, path)), { recursive: true });
    writeFileSync(join(rootfs, path), text);
  }
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/${spec.name}`,
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: {
        exec: ['/bin/sh', '-c', 'echo no-exec-given'],
        user: spec.user ?? '0',
        group: spec.group ?? '0',
        ...(spec.mountPoints ? { mountPoints: spec.mountPoints } : {}),
      },
    }),
  );
  const out = join(dir, `${spec.name}.aci`);
  await buildAciFromLayout(layout, out);
  return out;
}
