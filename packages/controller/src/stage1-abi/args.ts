/** The options of an entrypoint's command line (`--name`, `--name=value`), its other words, and what follows `--`. */
export interface EntrypointArgs {
  readonly options: Map<string, string>;
  readonly rest: string[];
  readonly afterDash: string[];
}

/** Parses an entrypoint's argv the way stage0 writes it: flags first, the UUID, then `-- CMD...` for enter. */
export function parseEntrypointArgs(argv: readonly string[]): EntrypointArgs {
  const options = new Map<string, string>();
  const rest: string[] = [];
  let afterDash: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      afterDash = argv.slice(i + 1) as string[];
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq < 0) options.set(a.slice(2), 'true');
      else options.set(a.slice(2, eq), a.slice(eq + 1));
    } else rest.push(a);
  }
  return { options, rest, afterDash };
}

/**
 * How a stage1's entrypoints fail: one line on stderr naming the stage1 and the entrypoint, and rkt's
 * failure status, as stage0 reports its own errors.
 */
export function entrypointFailure(stage1: string): (entrypoint: string, err: unknown) => never {
  return (entrypoint, err) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${stage1} ${entrypoint}: ${message}\n`);
    process.exit(254);
  };
}
