/**
 * A command's lean bundle: the same command built without what its usual run never calls (tsup.config.ts,
 * LEAN_COMMANDS): `rkt run` of images already in the store with their trees rendered loads 160 KB of bundle
 * rather than 380 KB (the fetcher, the import and render paths, the full appc schemas, the metadata service,
 * the NATS bus). Each module left out is a stub whose load records the miss here and throws, before the command
 * has done anything it cannot undo (a fetch or an import, a render: the pod being prepared is removed as any
 * failed prepare's is). The core then runs the command again from its start with the full bundle
 * (cli.ts), so a lean run either does all the command does or hands it over whole.
 *
 * On globalThis: the stubs, the lean command and the core each hold their own copy of this module.
 */
const MISSED = Symbol.for('rkt-ts.lean-bundle.missed');

/** Records that the lean bundle lacks `what` and throws: the core gives the command to the full bundle. */
export function leanBundleMiss(what: string): never {
  (globalThis as Record<symbol, unknown>)[MISSED] = what;
  throw new Error(`rkt-ts: the lean bundle of this command leaves out ${what}; the full bundle runs it`);
}

/** What a lean bundle's run missed since the last `clearLeanBundleMiss`, if anything. */
export function leanBundleMissed(): string | undefined {
  const what = (globalThis as Record<symbol, unknown>)[MISSED];
  return typeof what === 'string' ? what : undefined;
}

export function clearLeanBundleMiss(): void {
  delete (globalThis as Record<symbol, unknown>)[MISSED];
}
