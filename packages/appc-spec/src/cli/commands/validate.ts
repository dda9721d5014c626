import { AppcError } from '../../errors.js';
import { toAppcError } from '../../aci/io-errors.js';
import { UsageError, parseArgs } from '../args.js';
import type { CommandIO } from '../command.js';
import type { Kind } from '../validate-file.js';

export const usage = `Usage: appc validate FILE...

Checks that each FILE meets the App Container specification, like "actool validate": an image archive
(ACI, compressed or not: layout rules, manifest, archive integrity), an image layout directory, or an image
or pod manifest (JSON). Prints nothing for valid files and one line for each invalid one; exits 254 if any is
invalid.

Flags:
  --type=appimage|layout|manifest   skip detection (as actool's -type)
  --debug                           also print "FILE: valid ..." lines, and the stack of an error
`;

export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  const args = parseArgs(argv, { type: { type: 'string', values: ['appimage', 'layout', 'manifest'] } });
  if (args.help) {
    io.out(usage);
    return 0;
  }
  if (args.positionals.length === 0) throw new UsageError('expected at least one file (see --help)');
  const forced = args.flags.get('type') as Kind | undefined;
  const { validateOne } = await import('../validate-file.js');
  let failed = 0;
  for (const file of args.positionals) {
    try {
      const what = await validateOne(file, forced);
      if (io.debug) io.err(`${file}: valid ${what}\n`);
    } catch (err) {
      failed++;
      const e = err instanceof AppcError ? err : toAppcError(err, file);
      io.err(`appc validate: ${e.message}\n`);
      if (io.debug && e.stack !== undefined) io.err(`${e.stack}\n`);
    }
  }
  return failed === 0 ? 0 : 254;
}

