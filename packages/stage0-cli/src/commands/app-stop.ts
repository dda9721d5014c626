import type { CommandContext } from '../command.js';
import { stop } from './app-start.js';

export function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  return stop(ctx, args);
}
