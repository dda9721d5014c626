import { UsageError, parseArgs } from '../args.js';
import type { CommandIO } from '../command.js';

export const usage = `Usage: appc image-id ACI...

Prints the image ID of each ACI, one per line: "sha512-" and the hex SHA-512 of the uncompressed tar, after
checking the archive is a valid image (layout and manifest). Reads each file once, whatever its compression;
"-" reads standard input (curl -s URL | appc image-id -).

Flags:
  --debug   print the stack of an error
`;

export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  const args = parseArgs(argv, {});
  if (args.help) {
    io.out(usage);
    return 0;
  }
  if (args.positionals.length === 0) throw new UsageError('expected at least one ACI (see --help)');
  const { scanAci } = await import('../../aci/scan.js');
  for (const file of args.positionals) {
    const { imageId } = file === '-' ? await scanAci(process.stdin, { source: '<stdin>' }) : await scanAci(file);
    io.out(`${imageId}\n`);
  }
  return 0;
}
