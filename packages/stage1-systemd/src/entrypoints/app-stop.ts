// `coreos.com/rkt/stage1/app/stop` (interface version 5): see pod-apps.ts.
import { appCall, stopApp } from '../pod-apps.js';
import { fail } from './args.js';

Promise.resolve()
  .then(() => stopApp(appCall('app/stop', process.argv.slice(2))))
  .then(
    () => process.exit(0),
    (err: unknown) => fail('app/stop', err),
  );
