import type { CommandContext } from '../command.js';
import { openImageStore } from './image-common.js';

/** `rkt image cat-manifest IMAGE`: the image manifest, indented with tabs as rkt did unless `--pretty-print=false`. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const store = await openImageStore(ctx);
  const bytes = await store.manifest(args[0] ?? '');
  // Validated at import, so it parses; re-serialised as rkt's json.Marshal(Indent) of the manifest.
  const doc: unknown = JSON.parse(bytes.toString('utf8'));
  ctx.stdout.write(`${ctx.flags.bool('pretty-print') ? JSON.stringify(doc, null, '\t') : JSON.stringify(doc)}\n`);
}
