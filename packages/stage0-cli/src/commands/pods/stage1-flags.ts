// Flag declarations only: the command table (loaded on every start) imports this file.
import { flag, type FlagSpec } from '../../argv/flag-spec.js';

// rkt's were flags of its own type (one stage1 location, exclusive), not Go strings: their help shows `--stage1-path=`.
export const STAGE1_FLAGS: readonly FlagSpec[] = [
  flag.string('stage1-path', 'a path to a stage1 image. Absolute and relative paths are supported', { goType: 'value' }),
  flag.string('stage1-name', 'a name of a stage1 image in the store (name[:version])', { goType: 'value' }),
  flag.string('stage1-hash', 'a hash of a stage1 image. The image must exist in the store', { goType: 'value' }),
  flag.string('stage1-url', 'a URL to a stage1 image (file:// only for now)', { goType: 'value' }),
  flag.string('stage1-from-dir', 'a filename of an image in stage1 images directory to use as stage1', { goType: 'value' }),
];
