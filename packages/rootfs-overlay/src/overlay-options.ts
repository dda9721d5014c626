import { RootfsError } from './errors.js';

/**
 * One overlay directory as a mount option value. overlayfs splits its options at `,` and lower dirs at
 * `:`, both honouring a backslash escape, and libmount passes backslashes through; a double quote,
 * though, starts a quoted string in libmount's option parser and cannot be escaped, so such a path is
 * refused here with its name rather than mounted wrong.
 */
export function overlayPathOption(name: 'lowerdir' | 'upperdir' | 'workdir', path: string): string {
  if (path.includes('"')) {
    throw new RootfsError('ROOTFS_BAD_INPUT', `${name} ${JSON.stringify(path)} contains a double quote, which mount(8) cannot pass in overlay options`, {
      path,
    });
  }
  return `${name}=${path.replace(/[\\,:]/g, (c) => `\\${c}`)}`;
}
