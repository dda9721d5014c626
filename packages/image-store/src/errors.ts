import type { AppcError, AppcErrorCode } from '@rkt/appc-spec';
/**
 * Every failure the store reports is a `StoreError` with a stable `code`, so the CLI can turn it into one
 * line and an exit status without parsing messages.
 */
export type StoreErrorCode =
  | 'STORE_LAYOUT' // the data dir is not a store, or its layout is damaged
  | 'STORE_VERSION' // the layout or index was written by a newer rkt-ts
  | 'STORE_BUSY' // the index stayed locked by other processes past the deadline
  | 'STORE_INDEX_DAMAGED' // LevelDB reports the index corrupt or missing its files: rebuildIndex() makes a new one
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

/** appc-spec's codes in the store's terms: what is wrong with the input decides the code, not who found it. */
const FROM_APPC: Record<AppcErrorCode, StoreErrorCode> = {
  APPC_ACI_LAYOUT: 'STORE_ACI_UNSAFE',
  APPC_ACI_CORRUPT: 'STORE_ACI_FORMAT',
  APPC_COMPRESSION: 'STORE_ACI_FORMAT',
  APPC_ACI_NO_MANIFEST: 'STORE_MANIFEST',
  APPC_VALIDATION: 'STORE_MANIFEST',
  APPC_INVALID_JSON: 'STORE_MANIFEST',
  APPC_ACI_TOO_LARGE: 'STORE_ACI_TOO_LARGE',
  APPC_TOOL_MISSING: 'STORE_IO',
  APPC_IO: 'STORE_IO',
  APPC_ABORTED: 'STORE_IO',
  APPC_EXISTS: 'STORE_IO',
};

/** The store's error for an error of @rkt/appc-spec (`scanAci`, its tar reader and layout rules). */
export function fromAppcError(err: AppcError, subject: string): StoreError {
  return new StoreError(FROM_APPC[err.code], err.message, { subject, cause: err });
}

/**
 * A stored blob that no longer hashes to its image ID: changed on disk since its import. Importing the image
 * again replaces it (import.ts), so the message says so. A class of its own so that an extraction can tell it
 * from the archive errors the same damage causes (which it then reports as this).
 */
export class DamagedBlobError extends StoreError {
  constructor(imageId: string) {
    super('STORE_LAYOUT', `the stored ACI of ${imageId} is damaged (its hash no longer matches its ID); fetch the image again to replace it`, { subject: imageId });
  }
}
