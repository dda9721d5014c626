import { z } from 'zod';
import { appcObject, checkUnique } from './common.js';

// aci.md: POSIX names (letters, digits, "_", not starting with a digit) plus "." and "-".
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isEnvironmentVariableName(s: unknown): s is string {
  return typeof s === 'string' && ENV_NAME_RE.test(s);
}

export const environmentVariableSchema = appcObject(
  z.object({
    name: z
      .string({ message: 'must be a string' })
      .min(1, { message: 'must not be empty' })
      .regex(ENV_NAME_RE, {
        message: 'must be an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)',
      }),
    value: z.string({ message: 'must be a string' }),
  }),
);
export type EnvironmentVariable = z.infer<typeof environmentVariableSchema>;

export const environmentSchema = z
  .array(environmentVariableSchema, { message: 'must be an array' })
  .superRefine((env, ctx) => checkUnique(env, (e) => e.name, ctx, 'environment variable'));
export type Environment = z.infer<typeof environmentSchema>;

export function getEnvironmentVariable(env: Environment | undefined, name: string): string | undefined {
  return env?.find((e) => e.name === name)?.value;
}
