// Lists a store while refusing to load anything heavy: proves `rkt image list` loads neither LevelDB's
// native module nor zod, tar or @rkt/appc-spec. Usage: node list-probe.mjs BUNDLE DATA_DIR
import { register } from 'node:module';

const blocked = ['classic-level', 'zod', 'tar', '@rkt/appc-spec'];
const hooks = `
const blocked = ${JSON.stringify(blocked)};
export async function resolve(specifier, context, next) {
  if (blocked.some((b) => specifier === b || specifier.startsWith(b + '/'))) throw new Error('listing loaded ' + specifier);
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const [bundle, dir] = process.argv.slice(2);
const { openStore } = await import(bundle);
const store = await openStore({ dir });
const images = await store.list();
const one = await store.resolve(images[0].id.slice(0, 12));
process.stdout.write(`${JSON.stringify({ count: images.length, resolved: one.id })}\n`);
