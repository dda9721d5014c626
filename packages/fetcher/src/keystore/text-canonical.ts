import type { Hash } from 'node:crypto';

// A text signature (type 0x01) covers the data's canonical text form, not its bytes, and two forms are in
// use. Each is hashed as the bytes stream in, with no copy of the data and flat memory.

const LF = 10;
const CR = 13;
const CRLF = Buffer.from('\r\n');

/** Hashes what it is fed in some canonical form. */
export interface CanonicalHash {
  update(chunk: Uint8Array): void;
  /** The hash of the whole canonical form, for the caller to finish (signature data, trailer, digest). */
  end(): Hash;
}

/** The bytes as they are: a binary signature's form. */
export function rawForm(hash: Hash): CanonicalHash {
  return { update: (chunk) => { hash.update(chunk); }, end: () => hash };
}

/**
 * RFC 9580's (and OpenPGP.js's, Go's x/crypto that rkt used): every LF not preceded by CR becomes CRLF; all
 * else, a lone CR included, is kept.
 */
export function crlfForm(hash: Hash): CanonicalHash {
  let lastWasCr = false;
  return {
    update(chunk) {
      let start = 0;
      for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
        const afterCr = lf > 0 ? chunk[lf - 1] === CR : lastWasCr;
        if (afterCr) continue;
        hash.update(chunk.subarray(start, lf));
        hash.update(CRLF);
        start = lf + 1;
      }
      hash.update(chunk.subarray(start));
      if (chunk.length > 0) lastWasCr = chunk[chunk.length - 1] === CR;
    },
    end: () => hash,
  };
}

/**
 * GnuPG's (`gpg --textmode`, g10/textfilter.c): each line loses its trailing run of CR and NUL bytes (NUL:
 * the C `strchr` it trims with matches the string's terminator) and, if it ended with LF, gets CRLF; the
 * last line is trimmed too. On binary data such as a gzip image the two forms differ (a gzip member of less
 * than 16 MiB ends in NUL bytes), so a `gpg --textmode` signature of an image verifies only in this one.
 */
export function gnupgForm(hash: Hash): CanonicalHash {
  let committed = hash;
  // A run of CR and NUL bytes that ended a chunk counts only if something other than LF follows it. Rather
  // than keep the run (a tar's zero blocks, or whatever a hostile server sends), a copy of the hash takes
  // it: adopted when the line goes on, dropped when it ends.
  let withRun: Hash | undefined;
  return {
    update(chunk) {
      let start = 0;
      for (;;) {
        const lf = chunk.indexOf(LF, start);
        const end = lf < 0 ? chunk.length : lf;
        let kept = end;
        while (kept > start && (chunk[kept - 1] === CR || chunk[kept - 1] === 0)) kept--;
        if (kept > start && withRun !== undefined) {
          committed = withRun;
          withRun = undefined;
        }
        const target = withRun ?? committed;
        target.update(chunk.subarray(start, kept));
        if (lf < 0) {
          if (kept < end) {
            withRun ??= committed.copy();
            withRun.update(chunk.subarray(kept, end));
          }
          return;
        }
        withRun = undefined;
        committed.update(CRLF);
        start = lf + 1;
      }
    },
    end() {
      withRun = undefined;
      return committed;
    },
  };
}
