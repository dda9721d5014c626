import { z } from 'zod';
import { POD_TOPICS, type PodEvent } from './events.js';

/** The zod schema of a `PodEvent`, for transports that receive events from elsewhere. */
export const podEventSchema = z.object({
  /** RFC 3339 with milliseconds. */
  timestamp: z.string(),
  topic: z.enum(POD_TOPICS),
  podUuid: z.string(),
  payload: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<PodEvent>;
