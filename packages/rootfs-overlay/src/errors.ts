/**
 * Every failure this package raises is a `RootfsError` with a stable `code`, so the controller and the CLI
 * can turn it into one line (and exit 254) without parsing messages.
 */
export type RootfsErrorCode =
  /** mount(8) refused an overlay mount; the message carries mount's and the kernel's reason. */
  | 'ROOTFS_MOUNT'
  /** Some mounts under a path could not be detached, even lazily; `failures` lists them. */
  | 'ROOTFS_UNMOUNT'
  /** Copying a tree (the no-overlay fallback) failed. */
  | 'ROOTFS_COPY'
  /** The overlay support probe could not run at all (the data dir is missing or not writable). */
  | 'ROOTFS_DETECT'
  /** A caller's path is unusable: a missing lower tree, a target already mounted or not empty, ... */
  | 'ROOTFS_BAD_INPUT'
  /** /proc/self/mountinfo could not be read or has a line this parser does not understand. */
  | 'ROOTFS_MOUNTINFO'
  /** A program this package runs (`mount`, `umount`, `cp`) is not installed. */
  | 'ROOTFS_TOOL_MISSING';

export interface UnmountFailure {
  readonly mountPoint: string;
  readonly message: string;
}

export class RootfsError extends Error {
  readonly code: RootfsErrorCode;
  /** The path the error is about (target, lower, data dir, ...), when there is one. */
  readonly path: string | undefined;
  /** For ROOTFS_UNMOUNT: what was unmounted before giving up, and what could not be. */
  readonly unmounted: readonly string[];
  readonly failures: readonly UnmountFailure[];
  /**
   * From `resolveInRoot`: why the path cannot be used (`not a directory`, `too many levels of symbolic
   * links`...) and where inside the root the walk was (`/etc`), for a caller that words its own message.
   */
  readonly reason: string | undefined;
  readonly inRoot: string | undefined;

  constructor(
    code: RootfsErrorCode,
    message: string,
    options: { path?: string; cause?: unknown; unmounted?: readonly string[]; failures?: readonly UnmountFailure[]; reason?: string; inRoot?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Spelled out: the CLI's bundles are minified without keeping names.
    this.name = 'RootfsError';
    this.code = code;
    this.path = options.path;
    this.unmounted = options.unmounted ?? [];
    this.failures = options.failures ?? [];
    this.reason = options.reason;
    this.inRoot = options.inRoot;
  }
}
