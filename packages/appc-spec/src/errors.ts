/**
 * Every error this package raises on bad input is an `AppcError` with a stable `code`, so callers
 * (the CLI, the store) can map it to one line and an exit status without parsing messages.
 */
export type AppcErrorCode =
  | 'APPC_INVALID_JSON'
  | 'APPC_VALIDATION'
  | 'APPC_ACI_LAYOUT'
  | 'APPC_ACI_CORRUPT'
  | 'APPC_ACI_NO_MANIFEST'
  | 'APPC_ACI_TOO_LARGE'
  | 'APPC_COMPRESSION'
  | 'APPC_IO'
  /** A helper program the operation needs (`getfattr`, `bzip2`, `xz`) is not installed. */
  | 'APPC_TOOL_MISSING'
  /** The output file exists and overwriting was not asked for. */
  | 'APPC_EXISTS'
  /** The caller's AbortSignal fired. */
  | 'APPC_ABORTED';

export class AppcError extends Error {
  readonly code: AppcErrorCode;
  /** The file or stream the error is about, when known (`manifest`, `/tmp/x.aci`, ...). */
  readonly source: string | undefined;

  constructor(code: AppcErrorCode, message: string, options: { source?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Spelled out: the CLI's bundles are minified without keeping names (a subclass sets its own).
    this.name = 'AppcError';
    this.code = code;
    this.source = options.source;
  }
}

/** One violated rule, located by a JSON path such as `app.workingDirectory` or `apps[0].image.id`. */
export interface ValidationIssue {
  readonly path: string;
  readonly rule: string;
}

/**
 * A manifest (or other appc document) broke one or more rules of the spec. `message` is one line:
 * `<source>: <path>: <rule>` for the first issue, the rest are in `issues`.
 */
export class ValidationError extends AppcError {
  readonly issues: readonly ValidationIssue[];

  constructor(source: string, issues: readonly ValidationIssue[]) {
    const first = issues[0] ?? { path: '', rule: 'invalid' };
    const where = first.path === '' ? '' : `${first.path}: `;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super('APPC_VALIDATION', `${source}: ${where}${first.rule}${more}`, { source });
    this.name = 'ValidationError';
    this.issues = issues;
  }
}
