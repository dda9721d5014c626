import { APPC_SPEC_VERSION, RKT_TS_VERSION } from '../build-info.js';
import type { CommandContext } from '../command.js';
import { detectFeatures } from '../features.js';

export function run(ctx: CommandContext): void {
  ctx.stdout.write(
    [
      `rkt-ts Version: ${RKT_TS_VERSION}`,
      `appc Version: ${APPC_SPEC_VERSION}`,
      `Node Version: ${process.version}`,
      `Node OS/Arch: ${process.platform}/${process.arch}`,
      `Features: ${detectFeatures().join(' ')}`,
    ].join('\n') + '\n',
  );
}
