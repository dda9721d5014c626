import { join } from 'node:path';

/**
 * The files of a pod directory that the fly stage1 reads and writes, as the stage0/stage1 contract
 * (`@rkt/controller`'s `POD_FILES`) names them. Duplicated here on purpose: a stage1 is a separate
 * image that must not import stage0's code, only honour the same paths.
 */
export const podFiles = {
  manifest: (pod: string) => join(pod, 'pod'),
  pid: (pod: string) => join(pod, 'pid'),
  appDir: (pod: string, app: string) => join(pod, 'appsinfo', app),
  appRootfs: (pod: string, app: string) => join(pod, 'appsinfo', app, 'rootfs'),
  appExit: (pod: string, app: string) => join(pod, 'appsinfo', app, 'exit'),
};
