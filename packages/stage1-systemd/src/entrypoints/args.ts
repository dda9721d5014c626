import { entrypointFailure } from '@rkt/controller/stage1-abi';

export { parseEntrypointArgs } from '@rkt/controller/stage1-abi';

/** One line on stderr naming this stage1 and the entrypoint, and rkt's failure status. */
export const fail = entrypointFailure('stage1-systemd');

/** The line `fail` prints, for an entrypoint that is also a module and rejects with it instead of exiting. */
export function failureLine(entrypoint: string, err: unknown): string {
  return `stage1-systemd ${entrypoint}: ${err instanceof Error ? err.message : String(err)}`;
}
