export type MetadataServiceErrorCode =
  /** Nothing listens on the registration socket (no `rkt metadata-service` running). */
  | 'MDS_UNAVAILABLE'
  /** The service refused a registration: the status and its one-line reason are in the message. */
  | 'MDS_REJECTED'
  /** The service answered something that is not this protocol. */
  | 'MDS_PROTOCOL'
  /** The service could not start: socket or port in use, no permission. */
  | 'MDS_LISTEN';

/** Every failure of the metadata service or its client: a stable `code` and one line naming where. */
export class MetadataServiceError extends Error {
  readonly code: MetadataServiceErrorCode;
  constructor(code: MetadataServiceErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MetadataServiceError';
    this.code = code;
  }
}
