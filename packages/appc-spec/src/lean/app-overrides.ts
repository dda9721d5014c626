import type { RuntimeApp } from '../manifest/pod-manifest.js';
import type { App } from '../types/app.js';
import { isEnvironmentVariableName } from '../types/environment-rule.js';
import { isAbsolutePath } from '../types/path-rule.js';
import { appIsolatorsValid } from './isolator-overrides.js';
import { mountsValid } from './volume-overrides.js';

/**
 * Whether the fields of an app that `rkt run`'s per-app flags set (exec and its arguments, user, group,
 * working directory, environment, isolators: `appIsolatorsValid`, supplementary GIDs, user annotations and
 * labels) pass `appSchema`'s rules, without zod
 * (whose load was ~25 ms of every `rkt run --exec=...`). The other fields are not looked at: they come from
 * an image manifest validated at import. Only the answer is given: a caller that gets false validates with
 * the schemas, whose error names the field and the rule (test/lean.test.ts checks that both agree).
 */
export function appOverridesValid(app: App): boolean {
  if (app.exec !== undefined && !(Array.isArray(app.exec) && app.exec.every((s) => typeof s === 'string'))) return false;
  if (!nonEmptyString(app.user) || !nonEmptyString(app.group)) return false;
  if (app.workingDirectory !== undefined && !(typeof app.workingDirectory === 'string' && isAbsolutePath(app.workingDirectory))) return false;
  if (app.isolators !== undefined && !appIsolatorsValid(app.isolators)) return false;
  if (app.supplementaryGIDs !== undefined && !(Array.isArray(app.supplementaryGIDs) && app.supplementaryGIDs.every(isUint32))) return false;
  if (app.userAnnotations !== undefined && !isStringMap(app.userAnnotations)) return false;
  if (app.userLabels !== undefined && !isStringMap(app.userLabels)) return false;
  if (app.environment !== undefined) {
    if (!Array.isArray(app.environment)) return false;
    const names = new Set<string>();
    for (const v of app.environment as readonly unknown[]) {
      if (typeof v !== 'object' || v === null) return false;
      const { name, value } = v as { name?: unknown; value?: unknown };
      if (!isEnvironmentVariableName(name) || typeof value !== 'string' || names.has(name)) return false;
      names.add(name);
    }
  }
  return true;
}

/**
 * Whether the fields of a runtime app that `rkt run`'s per-app flags set pass `runtimeAppSchema`'s rules,
 * without zod: its app's (`appOverridesValid`), its mounts (`mountsValid`) and `readOnlyRootFS`. As there,
 * false only means "ask the schemas".
 */
export function runtimeAppOverridesValid(ra: RuntimeApp): boolean {
  return (
    (ra.app === undefined || appOverridesValid(ra.app)) &&
    (ra.mounts === undefined || mountsValid(ra.mounts)) &&
    (ra.readOnlyRootFS === undefined || typeof ra.readOnlyRootFS === 'boolean')
  );
}

/** `uint32Schema`: a group ID. */
function isUint32(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

/**
 * `stringMapSchema` (userAnnotations, userLabels): any object but an array, whose own keys are anything (the
 * spec puts no rule on them, `__proto__` included) and whose values are strings.
 */
function isStringMap(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const map = v as Record<string, unknown>;
  return Object.keys(map).every((k) => typeof map[k] === 'string');
}

function nonEmptyString(s: unknown): boolean {
  return typeof s === 'string' && s !== '';
}
