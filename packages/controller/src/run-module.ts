import { createRequire } from 'node:module';
import type { Stage1AppModule, Stage1GcModule, Stage1RunContext, Stage1RunModule, Stage1StopModule } from './stage1.js';

/** A stage1 module's export `name`, loaded by absolute path (CommonJS), or why it is unusable. */
function loadExport(
  path: string,
  name: string,
  requireModule: (path: string) => unknown = (p) => createRequire(p)(p),
): { readonly fn: (...args: never[]) => unknown } | { readonly unusable: string } {
  let exported: unknown;
  try {
    exported = requireModule(path);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { unusable: `it does not load: ${message.split('\n')[0] ?? ''}` };
  }
  const fn = typeof exported === 'object' && exported !== null ? (exported as Record<string, unknown>)[name] : undefined;
  if (typeof fn !== 'function') return { unusable: `it exports no ${name} function` };
  return { fn: fn as (...args: never[]) => unknown };
}

/**
 * Loads a stage1's run module (CommonJS, by absolute path). A module that does not load, or does not
 * export `run`, is unusable: the caller executes the run entrypoint instead.
 */
export function loadRunModule(path: string, requireModule?: (path: string) => unknown): { readonly module: Stage1RunModule } | { readonly unusable: string } {
  const loaded = loadExport(path, 'run', requireModule);
  if ('unusable' in loaded) return loaded;
  const run = loaded.fn as Stage1RunModule['run'];
  return { module: { run: (args, context) => run(args, context) } };
}

/** Loads a stage1's stop module, as `loadRunModule` its run module. */
export function loadStopModule(path: string): { readonly module: Stage1StopModule } | { readonly unusable: string } {
  const loaded = loadExport(path, 'stop');
  if ('unusable' in loaded) return loaded;
  const stop = loaded.fn as Stage1StopModule['stop'];
  return { module: { stop: async (args, context) => stop(args, context) } };
}

/** Loads a stage1's gc module, as `loadRunModule` its run module (Node's require cache keeps one copy). */
export function loadGcModule(path: string): { readonly module: Stage1GcModule } | { readonly unusable: string } {
  const loaded = loadExport(path, 'gc');
  if ('unusable' in loaded) return loaded;
  const gc = loaded.fn as Stage1GcModule['gc'];
  return { module: { gc: async (args, context) => gc(args, context) } };
}

/** Loads a stage1's app module, as `loadRunModule` its run module, with its `check` when it exports one. */
export function loadAppModule(path: string): { readonly module: Stage1AppModule } | { readonly unusable: string } {
  const loaded = loadExport(path, 'app');
  if ('unusable' in loaded) return loaded;
  const app = loaded.fn as Stage1AppModule['app'];
  const checked = loadExport(path, 'check');
  const check = 'fn' in checked ? (checked.fn as NonNullable<Stage1AppModule['check']>) : undefined;
  return { module: { app: async (args, context) => app(args, context), ...(check !== undefined ? { check: async (a, context) => check(a, context) } : {}) } };
}

/** Runs `fn` with `dir` as this process's working directory, given back after it (if it is still there). */
export async function inDirectory<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let before: string | undefined;
  try {
    before = process.cwd();
  } catch {
    // The working directory was removed: there is nothing to go back to.
    before = undefined;
  }
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    if (before !== undefined) {
      try {
        process.chdir(before);
      } catch {
        // Removed meanwhile: staying in the pod directory is as good as anywhere.
      }
    }
  }
}

/**
 * Runs the module in the pod directory, as the executable would run there: this process's working directory
 * is the pod's for the call, and is given back after it. The lock stays this process's for the call.
 */
export async function runModuleInPodDir(
  module: Stage1RunModule,
  podDir: string,
  args: readonly string[],
  context: Stage1RunContext,
): Promise<number> {
  return inDirectory(podDir, () => module.run(args, context));
}
