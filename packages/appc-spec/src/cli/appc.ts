#!/usr/bin/env node
// The `appc` CLI for people building images. This file stays tiny and imports only node built-ins: each
// command is its own chunk, loaded when named, so `--help` and usage errors never pay for zod or tar code.
import type { CommandIO, CommandModule } from './command.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  build: { summary: 'Build an ACI from an image layout directory', load: () => import('./commands/build.js') },
  validate: { summary: 'Check ACIs, layouts or manifests against the appc spec', load: () => import('./commands/validate.js') },
  'cat-manifest': { summary: 'Print the manifest of an ACI', load: () => import('./commands/cat-manifest.js') },
  'image-id': { summary: 'Print the image ID (sha512-...) of an ACI', load: () => import('./commands/image-id.js') },
};

const USAGE = `Usage: appc [--debug] COMMAND [ARGS...]

Builds and checks App Container Images (appc spec v0.8.11).

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`)
  .join('\n')}
  help [CMD]    Show this help, or a command's

Run "appc COMMAND --help" for a command's flags. Errors are one line on stderr and exit status 254.
`;

const EXIT_FAILURE = 254;

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  // Source maps cost start-up time on every run; only a user asking for stacks needs them.
  if (debug) process.setSourceMapsEnabled(true);
  const io: CommandIO = {
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    debug,
  };
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (name === undefined) {
    io.err(USAGE);
    io.err('appc: missing COMMAND\n');
    return EXIT_FAILURE;
  }
  if (name === '--help' || name === '-h') {
    io.out(USAGE);
    return 0;
  }
  if (name === 'help') {
    const topic = args[1];
    if (topic === undefined) {
      io.out(USAGE);
      return 0;
    }
    const c = COMMANDS[topic];
    if (c === undefined) return fail(io, 'appc help', `unknown command "${topic}" (see appc --help)`);
    io.out((await c.load()).usage);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    return fail(io, 'appc', name.startsWith('-') ? `unknown flag ${name} (see appc --help)` : `unknown command "${name}" (see appc --help)`);
  }
  try {
    const mod = await command.load();
    return await mod.run(args.slice(1), io);
  } catch (err) {
    if (debug && err instanceof Error && err.stack !== undefined) io.err(`${err.stack}\n`);
    return fail(io, `appc ${name}`, err instanceof Error ? err.message : String(err));
  }
}

function fail(io: CommandIO, prefix: string, message: string): number {
  // One line, whatever the message holds.
  io.err(`${prefix}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return EXIT_FAILURE;
}

// A reader that went away (`appc cat-manifest x.aci | head -1`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`appc: cannot write to standard output: ${err.message}\n`);
  process.exit(EXIT_FAILURE);
});

// An unexpected rejection must still end as one line and 254, never as Node's multi-line crash report.
process.on('unhandledRejection', (err) => {
  process.stderr.write(`appc: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(EXIT_FAILURE);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`appc: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  },
);
