import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPod, POD_FILES, PodError } from '@rkt/controller';
import type { CommandContext } from '../command.js';

export function run(ctx: CommandContext, args: readonly string[]): void {
  const pod = findPod(ctx.dataDir(), args[0] ?? '');
  const path = join(pod.path, POD_FILES.manifest);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PodError('POD_STATE', `pod ${pod.uuid} (${pod.state}) has no pod manifest yet`, { subject: pod.uuid, cause: err });
  }
  const doc: unknown = JSON.parse(text);
  // rkt printed json.MarshalIndent(manifest, "", "\t") unless --pretty-print=false.
  ctx.stdout.write(`${ctx.flags.bool('pretty-print') ? JSON.stringify(doc, null, '\t') : JSON.stringify(doc)}\n`);
}
