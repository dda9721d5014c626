import type { Compression } from '../../aci/compression.js';
import { UsageError, parseArgs } from '../args.js';
import type { CommandIO } from '../command.js';

export const usage = `Usage: appc build [--compression=gzip] [--overwrite] [--no-xattrs] LAYOUT_DIR OUT.aci

Builds an ACI from an image layout: a directory holding the image manifest as "manifest" and the root file
system as "rootfs/". The archive is deterministic (the same tree always gives the same image ID) and keeps
modes, owners, mtimes, symlinks, hardlinks, device nodes, fifos and extended attributes.

Flags:
  --compression=none|gzip|bzip2|xz   compress the archive (default gzip, as actool does)
  --overwrite                        replace OUT.aci if it exists
  --no-xattrs                        do not store extended attributes (reading them needs getfattr)
  --debug                            print the stack of an error
`;

export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  const args = parseArgs(argv, {
    compression: { type: 'string', values: ['none', 'gzip', 'bzip2', 'xz'] },
    overwrite: { type: 'boolean' },
    'no-xattrs': { type: 'boolean' },
  });
  if (args.help) {
    io.out(usage);
    return 0;
  }
  if (args.positionals.length !== 2) throw new UsageError(`expected LAYOUT_DIR and OUT.aci, got ${args.positionals.length} argument(s) (see --help)`);
  const [layout, out] = args.positionals as [string, string];
  if (!out.endsWith('.aci')) throw new UsageError(`${out}: an image archive's name must end in .aci`);
  // Loaded once the arguments are known to be good: usage errors stay as fast as `--help`.
  const { buildAciFromLayout } = await import('../../aci/build-layout.js');
  const result = await buildAciFromLayout(layout, out, {
    compression: (args.flags.get('compression') as Compression | undefined) ?? 'gzip',
    overwrite: args.flags.get('overwrite') === true,
    xattrs: args.flags.get('no-xattrs') !== true,
  });
  for (const w of result.warnings) io.err(`appc build: warning: ${w}\n`);
  return 0;
}
