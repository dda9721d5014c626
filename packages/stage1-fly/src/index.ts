export { DEFAULT_PATH, FlyError, flyExecArgs, resolveExecSpec } from './exec-spec.js';
export type { ExecSpec } from './exec-spec.js';
export { podFiles } from './pod-files.js';

/** The image name of the fly stage1, as rkt named its own. */
export const STAGE1_FLY_NAME = 'coreos.com/rkt/stage1-fly';

/**
 * Where each entrypoint lives in the stage1 rootfs (the built file `dist/<name>.js` goes to
 * `/fly/<name>`, next to `fly-exec`): what the stage1 image's annotations point at.
 */
export const FLY_ENTRYPOINTS = {
  run: '/fly/run',
  stop: '/fly/stop',
  gc: '/fly/gc',
  enter: '/fly/enter',
} as const;

/** The files of the built package that make up the stage1 rootfs's `/fly` directory. */
export const FLY_FILES = ['run.js', 'stop.js', 'gc.js', 'enter.js', 'fly-exec'] as const;
