import type { Layout } from './layout.js';

export interface StoreOptions {
  /** Give up with STORE_BUSY after waiting this long for the index (ms). */
  readonly lockTimeoutMs: number;
  /** Refuse archives whose uncompressed size exceeds this (bytes): stops decompression bombs. */
  readonly maxUncompressedSize: number;
  /** Refuse manifests larger than this (bytes). */
  readonly maxManifestSize: number;
  /** Path of GNU tar, used to extract trees. */
  readonly tarPath: string;
}

export const DEFAULT_OPTIONS: StoreOptions = {
  lockTimeoutMs: 60_000,
  maxUncompressedSize: 64 * 1024 ** 3,
  maxManifestSize: 1024 * 1024,
  tarPath: 'tar',
};

export interface StoreContext {
  readonly layout: Layout;
  readonly options: StoreOptions;
}
