import { createInterface } from 'node:readline';
import { trustKeys, type KeyInfo } from '@rkt/fetcher';
import type { CommandContext } from '../command.js';

/** Asks on the terminal (or whatever stdin is, so `yes | rkt trust ...` works), as rkt did. */
function askOnStdin(ctx: CommandContext): (review: string, info: KeyInfo) => Promise<boolean> {
  return async (review) => {
    ctx.stdout.write(review);
    const rl = createInterface({ input: process.stdin, terminal: false });
    try {
      for (let tries = 0; tries < 3; tries++) {
        ctx.stdout.write('Are you sure you want to trust this key (yes/no)?\n');
        const answer = await new Promise<string | undefined>((resolve) => {
          rl.once('line', resolve);
          rl.once('close', () => resolve(undefined));
        });
        if (answer === undefined) return false; // stdin closed: no consent
        const a = answer.trim().toLowerCase();
        if (a === 'yes' || a === 'y') return true;
        if (a === 'no' || a === 'n') return false;
        ctx.stdout.write('Please enter "yes" or "no".\n');
      }
      return false;
    } finally {
      rl.close();
    }
  };
}

/** `rkt trust [--prefix P | --root] [--skip-fingerprint-review] [KEY-FILE-OR-URL...]`. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const prefix = ctx.flags.changed('prefix') ? ctx.flags.string('prefix') : undefined;
  const root = ctx.flags.bool('root');
  const g = ctx.globals;
  const results = await trustKeys({
    prefix,
    root,
    locations: args,
    skipFingerprintReview: ctx.flags.bool('skip-fingerprint-review'),
    allowHttp: ctx.flags.bool('insecure-allow-http'),
    trustKeysFromHttps: g.trustKeysFromHttps,
    insecure: g.insecureOptions,
    systemConfigDir: g.systemConfigDir,
    localConfigDir: g.localConfigDir,
    userConfigDir: g.userConfigDir,
    cwd: ctx.cwd,
    confirm: askOnStdin(ctx),
    warn: (m) => ctx.stderr.write(`${m}\n`),
  });
  let declined = false;
  for (const r of results) {
    if (r.path === undefined) {
      declined = true;
      ctx.stderr.write(`trust: not trusting ${JSON.stringify(r.location)}\n`);
    } else if (prefix === undefined) {
      ctx.stdout.write(`Added root key at ${JSON.stringify(r.path)}\n`);
    } else {
      ctx.stdout.write(`Added key for prefix ${JSON.stringify(prefix)} at ${JSON.stringify(r.path)}\n`);
    }
  }
  return declined ? 254 : 0;
}
