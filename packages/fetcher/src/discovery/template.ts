import type { AppName } from '../image-string.js';

const UNFILLED = /\{.*?\}/;

/**
 * Fills `{name}` and one `{label}` per label (`{version}` defaults to `latest`), as appc does; `{ext}`
 * is filled by the caller. Returns undefined when a `{...}` variable is left, so such a template is skipped.
 */
export function renderTemplate(template: string, vars: ReadonlyArray<readonly [string, string]>): { text: string; complete: boolean } {
  let text = template;
  for (const [k, v] of vars) text = text.replaceAll(`{${k}}`, v);
  return { text, complete: !UNFILLED.test(text) };
}

/** `{name}` first so a label called `name` cannot replace it, then the labels, `version` defaulting to `latest`. */
export function templateVars(app: AppName): Array<readonly [string, string]> {
  const vars: Array<readonly [string, string]> = [['name', app.name]];
  for (const l of app.labels) vars.push([l.name, l.value]);
  if (!app.labels.some((l) => l.name === 'version')) vars.push(['version', 'latest']);
  return vars;
}
