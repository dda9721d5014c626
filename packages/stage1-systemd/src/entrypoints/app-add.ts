// `coreos.com/rkt/stage1/app/add` (interface version 5): see pod-apps.ts.
import { appCall, addApp } from '../pod-apps.js';
import { fail } from './args.js';

Promise.resolve()
  .then(() => addApp(appCall('app/add', process.argv.slice(2))))
  .then(
    () => process.exit(0),
    (err: unknown) => fail('app/add', err),
  );
