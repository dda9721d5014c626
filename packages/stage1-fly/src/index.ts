export { DEFAULT_PATH } from './constants.js';
export { podFiles } from './pod-files.js';

/** The image name of the fly stage1, as rkt named its own. */
export const STAGE1_FLY_NAME = 'coreos.com/rkt/stage1-fly';

/** Where each entrypoint lives in the stage1 rootfs: what the stage1 image's annotations point at. */
export const FLY_ENTRYPOINTS = {
  run: '/fly/run',
  stop: '/fly/stop',
  gc: '/fly/gc',
  enter: '/fly/enter',
} as const;

/**
 * The built files that make up the stage1 rootfs's `/fly` directory, by their name there: `run` is
 * the static C program `native/fly-run.c`, the others bundled Node scripts.
 */
export const FLY_FILES = { run: 'fly-run', stop: 'stop.cjs', gc: 'gc.cjs', enter: 'enter.cjs' } as const;
