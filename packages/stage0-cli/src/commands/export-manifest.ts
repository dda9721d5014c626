import { CliError } from '../errors.js';

/**
 * The manifest of an exported app: its image's, as rkt's export wrote it (name, labels, app, annotations
 * kept), less what no longer describes the flattened tree. rkt kept both of these; here they go:
 * - `dependencies`: the export holds the rendered tree, its dependencies' files included. Kept, a run of the
 *   exported image would fetch them and render them under it again, bringing back files the app deleted
 *   from them;
 * - `pathWhitelist`: it was applied when the tree was rendered. Kept, a render of the export would remove
 *   every file the app wrote outside it.
 */
export function exportedManifest(imageManifest: Buffer, app: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(imageManifest.toString('utf8'));
  } catch (err) {
    throw new CliError('CLI_BAD_ARGS', `the image manifest of app ${app} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CliError('CLI_BAD_ARGS', `the image manifest of app ${app} is not a JSON object`);
  const { dependencies: _dependencies, pathWhitelist: _whitelist, ...kept } = doc as Record<string, unknown>;
  return JSON.stringify(kept);
}
