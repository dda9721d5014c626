import { fs } from '../builtins.js';
import type { TextSink } from '../command.js';

/**
 * A sink writing straight to a standard file descriptor. The first touch of `process.stdout` builds
 * a stream (and loads node:stream and its kin): about 5 ms of a start that prints a few lines.
 * On Linux Node writes stdout and stderr synchronously anyway (files, pipes and terminals), so a
 * blocking write keeps the same order and semantics.
 *
 * `stream` is used instead from the first write that would block (a non-blocking descriptor shared
 * with another process): Node's stream queues the rest and keeps the order. `onError` gets any
 * other failure to write (EPIPE when the reader went away).
 */
export function fdSink(
  fd: number,
  stream: () => NodeJS.WritableStream,
  onError: (err: NodeJS.ErrnoException) => void,
): TextSink {
  let fallback: NodeJS.WritableStream | undefined;
  const useStream = () => {
    fallback = stream();
    fallback.on('error', onError);
    streamsInUse.add(fallback);
    return fallback;
  };
  let tty: boolean | undefined;
  return {
    // Asked only by what draws on a terminal (rkt fetch's progress bar): a start that prints lines pays nothing.
    get isTTY(): boolean {
      tty ??= process.getBuiltinModule('node:tty').isatty(fd);
      return tty;
    },
    write(chunk: string): boolean {
      if (fallback !== undefined) return fallback.write(chunk);
      const bytes = Buffer.from(chunk, 'utf8');
      let offset = 0;
      try {
        while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return useStream().write(bytes.subarray(offset));
        onError(err as NodeJS.ErrnoException);
        return false;
      }
      return true;
    },
  };
}

// On globalThis: the core and each command bundle hold their own copy of this module, and the core makes the sinks.
const STREAMS = Symbol.for('rkt-ts.output.streams');
const streamsInUse: Set<NodeJS.WritableStream> = ((globalThis as Record<symbol, unknown>)[STREAMS] ??= new Set()) as Set<NodeJS.WritableStream>;

/**
 * Whether output is still queued in a stream a sink fell back to (a write that would have blocked): this
 * process must then not be replaced by another program (`rkt run`'s exec of the stage1), which would lose it.
 */
export function outputQueued(): boolean {
  for (const s of streamsInUse) if ((s as NodeJS.WritableStream & { writableLength?: number }).writableLength) return true;
  return false;
}
