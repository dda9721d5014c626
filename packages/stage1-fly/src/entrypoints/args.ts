import { entrypointFailure } from '@rkt/controller/stage1-abi';

export { parseEntrypointArgs } from '@rkt/controller/stage1-abi';

/** One line on stderr naming this stage1 and the entrypoint, and rkt's failure status. */
export const fail = entrypointFailure('stage1-fly');
