export type PodErrorCode =
  | 'POD_BAD_UUID'
  | 'POD_NOT_FOUND'
  | 'POD_AMBIGUOUS'
  | 'POD_STATE'
  | 'POD_LOCKED'
  | 'POD_FORMAT'
  | 'POD_VERSION'
  | 'POD_STAGE1'
  | 'POD_APP'
  /** A volume or mount: a bad or missing host source, an unknown volume, a target that cannot be used. */
  | 'POD_VOLUME'
  /** `runPod`'s DNS configuration: an address, a name or an option that resolv.conf or /etc/hosts cannot take. */
  | 'POD_DNS'
  /** A network the pod cannot have as asked (CNI networks with `--private-users`). */
  | 'POD_NET'
  | 'POD_IO';

/** Every failure of a pod operation: a stable `code`, one line naming the pod (or path) and what went wrong. */
export class PodError extends Error {
  readonly code: PodErrorCode;
  /** The pod UUID or the path concerned. */
  readonly subject: string | undefined;
  constructor(code: PodErrorCode, message: string, options: { subject?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PodError';
    this.code = code;
    this.subject = options.subject;
  }
}
