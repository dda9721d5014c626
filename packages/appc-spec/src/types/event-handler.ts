import { z } from 'zod';
import { appcObject, checkUnique } from './common.js';
import { execSchema } from './exec.js';

export const EVENT_HANDLER_NAMES = ['pre-start', 'post-stop'] as const;

export const eventHandlerSchema = appcObject(
  z.object({
    name: z.enum(EVENT_HANDLER_NAMES, { message: 'must be "pre-start" or "post-stop"' }),
    exec: execSchema,
  }),
);
export type EventHandler = z.infer<typeof eventHandlerSchema>;

export const eventHandlersSchema = z
  .array(eventHandlerSchema, { message: 'must be an array' })
  .superRefine((handlers, ctx) => checkUnique(handlers, (h) => h.name, ctx, 'eventHandler'));
export type EventHandlers = z.infer<typeof eventHandlersSchema>;
