import type { CommandContext } from '../command.js';
import { rm } from './app-start.js';

export function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  return rm(ctx, args);
}
