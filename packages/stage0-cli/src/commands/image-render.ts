import type { CommandContext } from '../command.js';
import { extractTo } from './image-extract-to.js';

/** `rkt image render IMAGE DIR`: the image with its dependencies, as a pod would see it. */
export function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  return extractTo(ctx, args, true);
}
