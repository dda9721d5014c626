import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';

/**
 * rkt's `api-service` (experimental in rkt): refused in one line saying why, rather than as an unknown command,
 * for a unit or script written for rkt that starts it.
 */
export function run(_ctx: CommandContext): never {
  throw new CliError('CLI_BAD_ARGS', "rkt-ts has no API service: rkt's experimental gRPC API (v1alpha) is not implemented; \"rkt list --format=json\" and \"rkt status --format=json\" give its pod data");
}
