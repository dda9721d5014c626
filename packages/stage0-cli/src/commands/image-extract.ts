import type { CommandContext } from '../command.js';
import { extractTo } from './image-extract-to.js';

/** `rkt image extract IMAGE DIR`: the image's own files (not its dependencies'), as in the ACI. */
export function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  return extractTo(ctx, args, false);
}
