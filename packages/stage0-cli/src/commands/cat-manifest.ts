import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPod, POD_FILES, PodError } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { podArgs } from './pods/uuid-file.js';

export function run(ctx: CommandContext, args: readonly string[]): void {
  let text: string | undefined;
  let pod = findPod(ctx.dataDir(), podArgs(ctx, args)[0] ?? '');
  // A pod may move to its next state directory between finding and reading it: find it again.
  for (let attempt = 0; text === undefined; attempt++) {
    try {
      text = readFileSync(join(pod.path, POD_FILES.manifest), 'utf8');
    } catch (err) {
      const again = findPod(ctx.dataDir(), pod.uuid);
      if (again.path === pod.path || attempt >= 5) {
        throw new PodError('POD_STATE', `pod ${pod.uuid} (${pod.state}) has no pod manifest yet`, { subject: pod.uuid, cause: err });
      }
      pod = again;
    }
  }
  const doc: unknown = JSON.parse(text);
  // rkt printed json.MarshalIndent(manifest, "", "\t") unless --pretty-print=false.
  ctx.stdout.write(`${ctx.flags.bool('pretty-print') ? JSON.stringify(doc, null, '\t') : JSON.stringify(doc)}\n`);
}
