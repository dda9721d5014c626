import { z } from 'zod';

// aci.md: the strings are not evaluated; a name without "/" is looked up in PATH, so relative is fine.
export const execSchema = z.array(z.string({ message: 'must be a string' }), { message: 'must be an array of strings' });
export type Exec = z.infer<typeof execSchema>;
