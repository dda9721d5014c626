import { z } from 'zod';
import { EVENT_POD_UUID, EVENT_TIMESTAMP, POD_TOPICS, type PodEvent } from './events.js';

/**
 * The zod schema of a `PodEvent`, for transports that receive events from elsewhere. Pure: a bundle that
 * merely includes the controller's index (every `rkt list`) then drops it, and with it the load of zod
 * (~70 ms of a start).
 */
export const podEventSchema = /* @__PURE__ */ (() =>
  z.object({
    /** RFC 3339 with milliseconds. */
    timestamp: z.string().regex(EVENT_TIMESTAMP),
    topic: z.enum(POD_TOPICS),
    podUuid: z.string().regex(EVENT_POD_UUID),
    payload: z.record(z.string(), z.unknown()),
  }) satisfies z.ZodType<PodEvent>)();
