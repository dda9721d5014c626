/** The options of an entrypoint's command line (`--name`, `--name=value`) and what is left. */
export function parseEntrypointArgs(argv: readonly string[]): { options: Map<string, string>; rest: string[]; afterDash: string[] } {
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

/** One line on stderr and rkt's failure status: a stage1 reports like stage0 does. */
export function fail(entrypoint: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`stage1-systemd ${entrypoint}: ${message}\n`);
  process.exit(254);
}
