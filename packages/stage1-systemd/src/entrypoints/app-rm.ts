// `coreos.com/rkt/stage1/app/rm` (interface version 5): see pod-apps.ts.
import { appCall, removeApp } from '../pod-apps.js';
import { fail } from './args.js';

Promise.resolve()
  .then(() => removeApp(appCall('app/rm', process.argv.slice(2))))
  .then(
    () => process.exit(0),
    (err: unknown) => fail('app/rm', err),
  );
