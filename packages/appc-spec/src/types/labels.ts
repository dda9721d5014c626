import { z } from 'zod';
import { acIdentifierSchema } from './ac-identifier.js';
import { appcObject, checkUnique, quote } from './common.js';

/**
 * The os/arch pairs accepted by default: the list of the reference's `types.ValidOSArch` in v0.8.11,
 * which aci.md says an implementation may extend.
 */
export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  linux: ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x'],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

export const labelSchema = appcObject(
  z.object({
    name: acIdentifierSchema,
    value: z.string({ message: 'must be a string' }),
  }),
);
export type Label = z.infer<typeof labelSchema>;

export const labelsSchema = z.array(labelSchema, { message: 'must be an array' }).superRefine((labels, ctx) => {
  checkUnique(labels, (l) => l.name, ctx, 'label');
  labels.forEach((l, i) => {
    if (l.name === 'name') {
      ctx.addIssue({ code: 'custom', message: 'label name "name" is reserved for the image name', path: [i, 'name'] });
    }
  });
  const osIndex = labels.findIndex((l) => l.name === 'os');
  const os = labels[osIndex];
  if (os === undefined) return;
  const arches = Object.hasOwn(VALID_OS_ARCH, os.value) ? VALID_OS_ARCH[os.value] : undefined;
  if (arches === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported os ${quote(os.value)} (one of: ${Object.keys(VALID_OS_ARCH).join(', ')})`,
      path: [osIndex, 'value'],
    });
    return;
  }
  const archIndex = labels.findIndex((l) => l.name === 'arch');
  const arch = labels[archIndex];
  if (arch !== undefined && !arches.includes(arch.value)) {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported arch ${quote(arch.value)} for os ${os.value} (one of: ${arches.join(', ')})`,
      path: [archIndex, 'value'],
    });
  }
});
export type Labels = z.infer<typeof labelsSchema>;

export function getLabel(labels: Labels | undefined, name: string): string | undefined {
  return labels?.find((l) => l.name === name)?.value;
}
