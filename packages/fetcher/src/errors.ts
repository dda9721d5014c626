export type FetchErrorCode =
  /** The image string cannot be parsed (bad name, label, scheme). */
  | 'FETCH_BAD_IMAGE_STRING'
  /** appc discovery found no usable `ac-discovery` template. */
  | 'FETCH_DISCOVERY'
  /** A request failed: connection, TLS, an unexpected status, too many redirects. */
  | 'FETCH_HTTP'
  /** Plain http (or another relaxed check) was needed but not allowed by --insecure-options. */
  | 'FETCH_INSECURE'
  /** The image has no signature, or the signature is not from a trusted key or does not match. */
  | 'FETCH_SIGNATURE'
  /** The manifest of what arrived is not the name, labels or image ID that were asked for. */
  | 'FETCH_MISMATCH'
  /** The image is not in the store and the pull policy forbids fetching it. */
  | 'FETCH_NOT_FOUND'
  /** A dependency cycle or a chain deeper than allowed. */
  | 'FETCH_DEPENDENCY'
  /** A trusted key file or key material is unusable. */
  | 'FETCH_KEY'
  /** A configuration file (auth.d, certs.d) is malformed. */
  | 'FETCH_CONFIG'
  /** A local file cannot be read or written. */
  | 'FETCH_IO'
  /** A Docker image cannot be converted to an ACI: a bad config field, a corrupt or unsafe layer. */
  | 'FETCH_DOCKER_CONVERT'
  /** A Docker registry answered with an error (its JSON `errors`), or with no image for this host's platform. */
  | 'FETCH_REGISTRY'
  /** A Docker registry needs credentials that auth.d does not give, or refused the ones it gives. */
  | 'FETCH_AUTH'
  /** A Docker image in a format not supported (schema 1 manifests, zstd or non-distributable layers). */
  | 'FETCH_UNSUPPORTED';

/** Every failure of the fetcher: a stable `code` and one line naming what and where. */
export class FetchError extends Error {
  readonly code: FetchErrorCode;
  /** The image string, URL or file the error is about. */
  readonly subject: string | undefined;
  /**
   * Another attempt could succeed (a connection refused or cut, a timeout, a 5xx, 408 or 429): what a download
   * retries. Everything else (a 4xx, a certificate, a redirect loop, plain http refused) is final.
   */
  readonly transient: boolean;

  constructor(code: FetchErrorCode, message: string, opts: { subject?: string; cause?: unknown; transient?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FetchError';
    this.code = code;
    this.subject = opts.subject;
    this.transient = opts.transient === true;
  }
}

/** The first line of any error's message, for wrapping it into one line of our own. */
export function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
