import { createRequire } from 'node:module';
import type { Stage1RunModule } from './stage1.js';

/**
 * Loads a stage1's run module (CommonJS, by absolute path). A module that does not load, or does not
 * export `run`, is unusable: the caller executes the run entrypoint instead.
 */
export function loadRunModule(path: string): { readonly module: Stage1RunModule } | { readonly unusable: string } {
  let exported: unknown;
  try {
    exported = createRequire(path)(path);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { unusable: `it does not load: ${message.split('\n')[0] ?? ''}` };
  }
  const run = typeof exported === 'object' && exported !== null ? (exported as { run?: unknown }).run : undefined;
  if (typeof run !== 'function') return { unusable: 'it exports no run function' };
  return { module: { run: (args, context) => (run as Stage1RunModule['run'])(args, context) } };
}

/**
 * Runs the module in the pod directory, as the executable would run there: this process's working directory
 * is the pod's for the call, and is given back after it. The lock stays this process's for the call.
 */
export async function runModuleInPodDir(module: Stage1RunModule, podDir: string, args: readonly string[], lockFd: number): Promise<number> {
  let before: string | undefined;
  try {
    before = process.cwd();
  } catch {
    // The working directory was removed: there is nothing to go back to.
    before = undefined;
  }
  process.chdir(podDir);
  try {
    return await module.run(args, { lockFd });
  } finally {
    if (before !== undefined) {
      try {
        process.chdir(before);
      } catch {
        // Removed during the pod's life: staying in the pod directory is as good as anywhere.
      }
    }
  }
}
