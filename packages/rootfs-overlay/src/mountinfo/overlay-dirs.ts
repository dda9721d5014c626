import type { MountInfo } from './parse-mountinfo.js';

/**
 * The `upperdir` and `workdir` of an overlay mount, from its super options. Option values carry the
 * backslash escapes overlayfs uses for `,` `:` and `\` (mountinfo's octal escapes are already decoded),
 * so split at unescaped commas, then drop the escapes.
 */
export function overlayDirs(m: MountInfo): { upper?: string; work?: string } {
  if (m.fsType !== 'overlay') return {};
  const out: { upper?: string; work?: string } = {};
  for (const opt of m.superOptions.split(/(?<!\\),/)) {
    const eq = opt.indexOf('=');
    if (eq === -1) continue;
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1).replace(/\\(.)/g, '$1');
    if (key === 'upperdir') out.upper = value;
    else if (key === 'workdir') out.work = value;
  }
  return out;
}
