/**
 * Every failure the store reports is a `StoreError` with a stable `code`, so the CLI can turn it into one
 * line and an exit status without parsing messages.
 */
export type StoreErrorCode =
  | 'STORE_LAYOUT' // the data dir is not a store, or its layout is damaged
  | 'STORE_VERSION' // the layout or index was written by a newer rkt-ts
  | 'STORE_BUSY' // the index stayed locked by other processes past the deadline
  | 'STORE_NOT_FOUND' // no image, tree or record matches
  | 'STORE_AMBIGUOUS' // an ID prefix matches more than one image
  | 'STORE_BAD_REFERENCE' // an image reference that is neither a valid ID prefix nor a name
  | 'STORE_IN_USE' // a pod references the image or tree
  | 'STORE_ACI_FORMAT' // the archive is not a valid tar / compressed stream
  | 'STORE_ACI_UNSAFE' // an entry would escape the image or is not allowed in an ACI
  | 'STORE_ACI_TOO_LARGE' // a configured size limit was crossed
  | 'STORE_MANIFEST' // the manifest is missing or invalid
  | 'STORE_DEPENDENCY' // a dependency cannot be resolved (missing, ID mismatch, cycle)
  | 'STORE_RENDER' // extraction into the tree store failed
  | 'STORE_TARGET' // a destination directory for extract/render/export is unusable
  | 'STORE_IO';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** What the error is about: a path, an image ID, an archive entry. */
  readonly subject: string | undefined;

  constructor(code: StoreErrorCode, message: string, options: { subject?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    this.subject = options.subject;
  }
}

export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' &&
    codes.includes((err as NodeJS.ErrnoException).code as string);
}
