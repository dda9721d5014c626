import { open } from 'node:fs/promises';
import { constants } from 'node:fs';

export const OVERLAY_LOG_PREFIXES: readonly string[] = ['overlayfs: ', 'overlay: '];

/** Microseconds on the clock the kernel stamps its log with (both are CLOCK_MONOTONIC-based on Linux). */
export function kernelClockMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Kernel log lines starting with one of `prefixes` logged since `sinceMicros`. overlayfs logs as both
 * `overlayfs:` (its own messages) and `overlay:` (mount option errors, through the fs_context log). mount(2) says only
 * EINVAL; the reason ("filesystem on '/x' not supported as upperdir") is only in the kernel log, and
 * util-linux 2.38 does not fetch it. Best effort: an empty list when /dev/kmsg is not readable
 * (dmesg_restrict, containers).
 */
export async function kernelMessagesSince(sinceMicros: number, prefixes: readonly string[]): Promise<string[]> {
  let handle;
  try {
    handle = await open('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const found: string[] = [];
  const buf = Buffer.alloc(8192);
  try {
    // Each read returns one record: "prio,seq,usec,flags;message\n". EAGAIN ends the log; EPIPE means
    // records were overwritten while reading, and the next read continues with the oldest kept one.
    for (;;) {
      let n: number;
      try {
        n = (await handle.read(buf, 0, buf.length, null)).bytesRead;
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue;
        break;
      }
      if (n === 0) break;
      const record = buf.toString('utf8', 0, n);
      const semi = record.indexOf(';');
      const usec = Number(record.split(',')[2]);
      const message = record.slice(semi + 1).split('\n')[0] ?? '';
      if (usec >= sinceMicros && prefixes.some((p) => message.startsWith(p))) found.push(message);
    }
  } finally {
    await handle.close();
  }
  return found;
}
