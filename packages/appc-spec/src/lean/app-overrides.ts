import type { App } from '../types/app.js';
import { isEnvironmentVariableName } from '../types/environment-rule.js';
import { isAbsolutePath } from '../types/path-rule.js';
import { appIsolatorsValid } from './isolator-overrides.js';

/**
 * Whether the fields of an app that `rkt run`'s per-app flags set (exec and its arguments, user, group,
 * working directory, environment, isolators: `appIsolatorsValid`) pass `appSchema`'s rules, without zod
 * (whose load was ~25 ms of every `rkt run --exec=...`). The other fields are not looked at: they come from
 * an image manifest validated at import. Only the answer is given: a caller that gets false validates with
 * the schemas, whose error names the field and the rule (test/lean.test.ts checks that both agree).
 */
export function appOverridesValid(app: App): boolean {
  if (app.exec !== undefined && !(Array.isArray(app.exec) && app.exec.every((s) => typeof s === 'string'))) return false;
  if (!nonEmptyString(app.user) || !nonEmptyString(app.group)) return false;
  if (app.workingDirectory !== undefined && !(typeof app.workingDirectory === 'string' && isAbsolutePath(app.workingDirectory))) return false;
  if (app.isolators !== undefined && !appIsolatorsValid(app.isolators)) return false;
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

function nonEmptyString(s: unknown): boolean {
  return typeof s === 'string' && s !== '';
}
