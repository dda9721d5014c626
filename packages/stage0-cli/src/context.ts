import type { ParsedFlags } from './argv/parsed-flags.js';
import { fs } from './builtins.js';
import type { CommandContext, Logger, TextSink } from './command.js';
import { CliError } from './errors.js';
import type { GlobalOptions } from './globals.js';
import { dataDirOf } from './commands/pods/paths-config.js';

export function createLogger(stderr: TextSink, command: string, debug: boolean): Logger {
  return {
    debug: (message) => {
      if (debug) stderr.write(`${command}: ${message}\n`);
    },
    warn: (message) => {
      stderr.write(`${command}: ${message}\n`);
    },
  };
}

export function createContext(init: {
  command: string;
  globals: GlobalOptions;
  flags: ParsedFlags;
  argsLenAtDash: number;
  appArgs: readonly (readonly string[])[];
  stdout: TextSink;
  stderr: TextSink;
  cwd: () => string;
}): CommandContext & { ended(): Promise<void> } {
  let dataDir: string | undefined;
  const endTasks: (() => Promise<void>)[] = [];
  const { cwd, ...rest } = init;
  const log = createLogger(init.stderr, init.command, init.globals.debug);
  return {
    ...rest,
    get cwd() {
      return cwd();
    },
    log,
    // On first use only: a command that never touches the data directory (`rkt version`) reads no paths.d.
    dataDir() {
      if (dataDir === undefined) {
        const { dir, from } = dataDirOf(init.globals);
        if (from !== 'flag') log.debug(`data directory ${dir} (${from === 'paths.d' ? 'paths.d' : 'no --dir, no paths.d'})`);
        dataDir = resolveDataDir(dir);
      }
      return dataDir;
    },
    atEnd(task) {
      endTasks.push(task);
    },
    async ended() {
      for (const task of endTasks.splice(0)) await task();
    },
  };
}

/** rkt's calculateDataDir: symlinks resolved, a directory that does not exist yet kept as given. */
export function resolveDataDir(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return dir;
    throw new CliError('CLI_DATA_DIR', `cannot evaluate data dir ${JSON.stringify(dir)} real path: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
