import { HELP_FLAG } from '../argv/parse.js';
import type { FlagSpec } from '../argv/flag-spec.js';
import { RKT_TS_VERSION } from '../build-info.js';
import type { CommandSpec } from '../command.js';
import { tabwrite } from '../output/tabwriter.js';

/**
 * The help text of `rkt` (empty `path`) or of one command, in rkt's layout: NAME, USAGE, VERSION
 * (rkt only), COMMANDS, DESCRIPTION, OPTIONS, GLOBAL OPTIONS; columns aligned by the tabwriter.
 */
export function renderUsage(path: readonly CommandSpec[], root: CommandSpec, globals: readonly FlagSpec[]): string {
  const cmd = path[path.length - 1] ?? root;
  const fullName = ['rkt', ...path.map((c) => c.name)].join(' ');
  const sections: string[][] = [];

  sections.push(['NAME:', `\t${fullName} - ${cmd.summary}`]);
  const subcommands = listCommands(cmd);
  const useLine =
    cmd.load === undefined
      ? `${fullName} [command]`
      : `${fullName}${cmd.args === undefined ? '' : ` ${cmd.args}`} [flags]`;
  sections.push(['USAGE:', `\t${useLine}`]);
  if (path.length === 0) sections.push(['VERSION:', `\t${RKT_TS_VERSION}`]);
  if (subcommands.length > 0) {
    sections.push(['COMMANDS:', ...subcommands.map(([name, c]) => `\t${name}\t${c.summary}`)]);
  }
  if (cmd.description !== undefined) {
    sections.push(['DESCRIPTION:', ...cmd.description.split('\n').map((l) => (l === '' ? '' : `\t${l}`))]);
  }
  const own = [...(cmd.flags ?? []), HELP_FLAG].filter((f) => !f.hidden);
  if (path.length === 0) {
    sections.push(['GLOBAL OPTIONS:', ...flagLines([...globals, HELP_FLAG], 'rkt')]);
  } else {
    sections.push(['OPTIONS:', ...flagLines(own, fullName)]);
    sections.push(['GLOBAL OPTIONS:', ...flagLines(globals, fullName)]);
  }
  const helpCommand = ['rkt help', ...path.map((c) => c.name)].join(' ');
  const hint =
    subcommands.length > 0 ? `Run "${helpCommand} <command>" for more details on a specific command.` : undefined;
  const text = sections.map((s) => s.join('\n')).join('\n\n') + '\n' + (hint === undefined ? '' : `\n${hint}\n`);
  return tabwrite(text);
}

/** Runnable commands below `cmd` with their names relative to it (`image list`), as rkt's help listed them. */
function listCommands(cmd: CommandSpec, prefix = ''): Array<[string, CommandSpec]> {
  const out: Array<[string, CommandSpec]> = [];
  for (const sub of cmd.subcommands ?? []) {
    if (sub.hidden) continue;
    const name = `${prefix}${sub.name}`;
    if (sub.load !== undefined) out.push([name, sub]);
    out.push(...listCommands(sub, `${name} `));
  }
  return out;
}

function flagLines(flags: readonly FlagSpec[], cmdName: string): string[] {
  return flags
    .filter((f) => !f.hidden)
    .map((f) => {
      // pflag's FlagUsages (rkt 1.30's OPTIONS): `   %s   --%s` without a shorthand, `  -%s, --%s` with one.
      const names = f.short === undefined ? `      --${f.name}` : `  -${f.short}, --${f.name}`;
      const usage = f === HELP_FLAG ? `help for ${cmdName}` : f.usage;
      return `${names}${defaultShown(f)}\t${usage}`;
    });
}

/**
 * rkt's flag lines (its help.go): the default after `=`, in brackets when the value may be omitted (a bool,
 * or a flag with pflag's NoOptDefVal). Bracketed or not, it is the default, not what a bare flag means: rkt
 * 1.30's `status --help` shows `--wait[="false"]`. A Go string flag's default is quoted as Go's %q does
 * (`--pull-policy="new"`, `--uuid-file-save=""`), any other type's shown as it is (`--grace-period=30m0s`);
 * `--net`, a list (rkt's NetList, not a string), shows `--net[=]`.
 */
function defaultShown(f: FlagSpec): string {
  if (f.kind === 'string') {
    const shown = f.goType === undefined ? JSON.stringify(f.default) : f.default;
    return f.noOptDefault === undefined ? `=${shown}` : `[=${shown}]`;
  }
  if (f.kind === 'strings' && f.noOptDefault !== undefined) return `[=${f.default.join(',')}]`;
  switch (f.kind) {
    case 'bool':
      return `[=${String(f.default)}]`;
    case 'strings':
      return `=${f.default.join(',')}`;
    case 'int':
      return `=${String(f.default)}`;
  }
}
