import { AppcError } from '../errors.js';

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
};

const ZLIB_TEXT: Record<string, string> = {
  Z_DATA_ERROR: 'corrupt gzip data',
  Z_BUF_ERROR: 'gzip data is truncated',
  Z_NEED_DICT: 'corrupt gzip data',
  Z_STREAM_ERROR: 'corrupt gzip data',
};

/**
 * Any error met while reading or writing an archive, as an `AppcError` with a one-line message naming
 * `source`: file system errors become `APPC_IO`, zlib's become `APPC_COMPRESSION`.
 */
export function toAppcError(err: unknown, source: string): AppcError {
  if (err instanceof AppcError) return err;
  const e = err as { code?: unknown; message?: unknown; path?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (code !== undefined && code in ZLIB_TEXT) {
    return new AppcError('APPC_COMPRESSION', `${source}: ${ZLIB_TEXT[code]} (${message})`, { source, cause: err });
  }
  if (code !== undefined && code in ERRNO_TEXT) {
    const where = typeof e?.path === 'string' && e.path !== source ? `${source}: ${e.path}` : source;
    return new AppcError('APPC_IO', `${where}: ${ERRNO_TEXT[code]}`, { source, cause: err });
  }
  return new AppcError('APPC_IO', `${source}: ${message.split('\n')[0]}`, { source, cause: err });
}
