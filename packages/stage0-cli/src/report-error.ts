import type { TextSink } from './command.js';
import { CliError, isCodedError } from './errors.js';

/**
 * One line on stderr: `<command>: <message>`. Errors with a `code` (CliError, AppcError, Node's
 * system errors) are expected failures and print their message; anything else is a bug and says
 * so. Under `--debug` the stack and the chain of causes follow the line.
 */
export function reportError(stderr: TextSink, command: string, err: unknown, debug: boolean): void {
  const prefix = err instanceof CliError && err.command !== undefined ? err.command : command;
  let message: string;
  if (isCodedError(err)) message = err.message;
  else if (err instanceof Error) message = `unexpected error: ${err.message}`;
  else message = `unexpected error: ${String(err)}`;
  const hints: string[] = [];
  if (err instanceof CliError && err.hint !== undefined) hints.push(err.hint);
  if (!debug && !isCodedError(err)) hints.push('run with --debug for details');
  const line = `${prefix}: ${oneLine(message)}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`;
  stderr.write(`${line}\n`);
  if (debug) stderr.write(`${describeChain(err)}\n`);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function describeChain(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== undefined && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const text = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    parts.push(parts.length === 0 ? text : `caused by: ${text}`);
    if (!(e instanceof Error)) break;
  }
  return parts.join('\n');
}
