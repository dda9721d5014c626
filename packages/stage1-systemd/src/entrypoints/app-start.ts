// `coreos.com/rkt/stage1/app/start` (interface version 5): see pod-apps.ts.
import { appCall, startApp } from '../pod-apps.js';
import { fail } from './args.js';

Promise.resolve()
  .then(() => startApp(appCall('app/start', process.argv.slice(2))))
  .then(
    () => process.exit(0),
    (err: unknown) => fail('app/start', err),
  );
