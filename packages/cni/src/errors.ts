/** What went wrong with a pod's networks, as a stable code (the message is one line naming what and where). */
export type CniErrorCode =
  /** A `--net` list this package cannot read (the stage0 checks the same rules first). */
  | 'CNI_NET_LIST'
  /** A network configuration that does not parse, or networks asked for that no configuration defines. */
  | 'CNI_CONFIG'
  /** A plugin that is not found, fails, or answers what is not a CNI result. */
  | 'CNI_PLUGIN'
  /** The pod's network namespace could not be made or removed. */
  | 'CNI_NETNS';

export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly code: CniErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
