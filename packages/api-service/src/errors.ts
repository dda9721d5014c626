export type ApiServiceErrorCode =
  /** `listen` is not HOST:PORT with a port of 1-65535 (0 too, for tests: any free port). */
  | 'API_BAD_LISTEN'
  /** The address could not be bound: in use, not an address of this host, no permission. */
  | 'API_LISTEN'
  /** api.proto was not found or did not define rkt's PublicAPI. */
  | 'API_PROTO';

/** The service's own failures (not a request's: those are gRPC statuses). A stable `code` and one line. */
export class ApiServiceError extends Error {
  readonly code: ApiServiceErrorCode;
  constructor(code: ApiServiceErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiServiceError';
    this.code = code;
  }
}
