import { expect } from 'vitest';
import { CliError, type CliErrorCode } from '../src/errors.js';

/** The message of the CliError `f` throws; with `code`, also that the error has that code. */
export function refusal(f: () => unknown, code?: CliErrorCode): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    if (code !== undefined) expect((err as CliError).code).toBe(code);
    return (err as CliError).message;
  }
  throw new Error('expected a refusal');
}
