import { z } from 'zod';
import { appcObject, checkUnique } from './common.js';
import { ENV_NAME_RE } from './environment-rule.js';

export { isEnvironmentVariableName } from './environment-rule.js';

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
