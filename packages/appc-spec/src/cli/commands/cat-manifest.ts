import { UsageError, parseArgs } from '../args.js';
import type { CommandIO } from '../command.js';

export const usage = `Usage: appc cat-manifest [--pretty-print] ACI

Prints the image manifest of an ACI as stored in it, after checking the archive is a valid image. "-" reads
the ACI from standard input.

Flags:
  --pretty-print   print the validated manifest indented, in the spec's key order
  --debug          print the stack of an error
`;

export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  const args = parseArgs(argv, { 'pretty-print': { type: 'boolean' } });
  if (args.help) {
    io.out(usage);
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError(`expected one ACI, got ${args.positionals.length} argument(s) (see --help)`);
  const { scanAci } = await import('../../aci/scan.js');
  const file = args.positionals[0]!;
  const scan = file === '-' ? await scanAci(process.stdin, { source: '<stdin>' }) : await scanAci(file);
  if (args.flags.get('pretty-print') === true) {
    // Four spaces, as actool indents.
    io.out(`${JSON.stringify(scan.manifest, null, 4)}\n`);
    return 0;
  }
  const bytes = scan.manifestBytes;
  io.out(bytes);
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) io.out('\n');
  return 0;
}
