// Flag declarations only: the command table (loaded on every start) imports this file, so it must stay free
// of the heavy modules the pod commands load.
import { flag, type FlagSpec } from '../../argv/flag-spec.js';

/** rkt's per-app flags: they apply to the image given before them. */
export const APP_FLAGS: readonly FlagSpec[] = [
  flag.string('exec', 'override the exec command for the preceding image'),
  flag.string('name', 'set the name of the app (default: the base name of the image)'),
  flag.strings('set-env', 'environment variable to set for the app, in the form NAME=VALUE'),
  flag.strings('set-env-file', 'path to an environment file whose NAME=VALUE lines are set for the app'),
  flag.string('user', 'user override for the preceding image (example: --user=user)'),
  flag.string('group', 'group override for the preceding image (example: --group=group)'),
  flag.string('working-dir', 'override the working directory of the preceding image'),
];

/** Pod flags shared by run and prepare. */
export const POD_FLAGS: readonly FlagSpec[] = [
  flag.bool('inherit-env', 'inherit all environment variables not set by apps'),
  flag.bool('no-overlay', 'disable overlay filesystem: copy each image tree into the pod'),
  flag.string('pod-manifest', 'the path to the pod manifest. If it is non-empty, then only --stage1-* and --no-overlay flags take effect'),
  flag.string('uuid-file-save', 'write out pod UUID to specified file'),
];
