// Finds and references a pod's already rendered trees while refusing to load LevelDB, zod, tar or
// @rkt/appc-spec: proves `rkt run`'s store work needs none of them once the trees exist. Reports whether
// node:crypto was loaded (a built-in: not seen by resolve hooks, but listed in process.moduleLoadList).
// Usage: node pod-trees-probe.mjs BUNDLE DATA_DIR POD_UUID POD_DIR FILE_URL ETAG IMAGE_ID...
import { register } from 'node:module';

const blocked = ['classic-level', 'zod', 'tar', '@rkt/appc-spec'];
const hooks = `
const blocked = ${JSON.stringify(blocked)};
export async function resolve(specifier, context, next) {
  if (blocked.some((b) => specifier === b || specifier.startsWith(b + '/'))) throw new Error('the pod lookup loaded ' + specifier);
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const [bundle, dir, podUuid, podDir, url, etag, ...ids] = process.argv.slice(2);
const { openStore } = await import(bundle);
const store = await openStore({ dir });
const imported = await store.fileImport(url, etag);
const trees = await store.renderAll(ids, { pod: { podUuid, podDirs: [podDir] } });
const crypto = process.moduleLoadList.some((m) => m === 'NativeModule crypto');
process.stdout.write(`${JSON.stringify({ imported, crypto, trees: trees.map((t) => ({ id: t.id, rootfs: t.rootfs })) })}\n`);
