// A separate rkt-like process for the multi-process tests. Node 20 cannot load TypeScript, so this imports
// the package built to JS. Usage: node store-worker.mjs BUNDLE DATA_DIR OP ARG... where each OP ARG pair
// is one of: import FILE | render NAME | remove NAME | list - | resolve NAME | gc GRACE_MS | verify NAME
// | podrender NAME:PODDIR. Prints one JSON line per operation; exits 0 if all succeeded, 3 if one failed
// with a StoreError (the line carries its code and message), 1 on anything else.
const [bundle, dir, ...ops] = process.argv.slice(2);
const { openStore, StoreError } = await import(bundle);

let status = 0;
try {
  const store = await openStore({ dir, lockTimeoutMs: 120_000 });
  for (let i = 0; i < ops.length; i += 2) {
    const op = ops[i];
    const arg = ops[i + 1];
    try {
      let result;
      switch (op) {
        case 'import': result = (await store.importAci(arg)).id; break;
        case 'render': result = (await store.render(arg)).id; break;
        case 'podrender': {
          const [name, podDir] = arg.split(':');
          result = (await store.render(name, { pod: { podUuid: podDir.split('/').pop(), podDirs: [podDir] } })).id;
          break;
        }
        case 'remove': result = (await store.remove(arg)).id; break;
        case 'list': result = (await store.list()).length; break;
        case 'resolve': result = (await store.resolve(arg)).id; break;
        case 'gc': result = await store.gc({ gracePeriodMs: Number(arg) }); break;
        case 'verify': result = await store.verifyImage(arg); break;
        default: throw new Error(`unknown op ${op}`);
      }
      process.stdout.write(`${JSON.stringify({ op, arg, ok: true, result })}\n`);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      process.stdout.write(`${JSON.stringify({ op, arg, ok: false, code: err.code, message: err.message })}\n`);
      status = 3;
    }
  }
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, unexpected: String(err?.stack ?? err) })}\n`);
  status = 1;
}
process.exitCode = status;
