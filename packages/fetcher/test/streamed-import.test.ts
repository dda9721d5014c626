import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore } from '@rkt/image-store';
import { createContext, type FetchContext } from '../src/fetch/context.js';
import { startStreamedImport } from '../src/fetch/streamed-import.js';
import { makeDirs } from './helpers.js';

let dirs: Awaited<ReturnType<typeof makeDirs>>;
let ctx: FetchContext;

beforeEach(async () => {
  dirs = await makeDirs();
  ctx = await createContext({ store: await openStore({ dir: dirs.data }), localConfigDir: dirs.local, systemConfigDir: dirs.system });
});

afterEach(async () => {
  await ctx.hold.release();
  await dirs.cleanup();
});

// A download that breaks aborts the streamed import and goes on from its part file. The abort may come before
// the store reads the stream (the import first loads the manifest parser): a connection cut in the first
// milliseconds. In the CLI an uncaught exception ends the process, instead of the resume.
it('an abort before the store reads the stream fails the import, with no uncaught exception', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => { uncaught.push(err); };
  process.on('uncaughtException', onUncaught);
  try {
    const live = startStreamedImport(ctx, 'https://example.com/app.aci', undefined, { hold: ctx.hold }, async () => undefined);
    live.sink.abort(new Error('the server closed the connection after 0 of 1000 bytes'));
    await expect(live.result).rejects.toThrow();
    expect(live.aborted()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
  expect(await ctx.store.list()).toEqual([]);
});
