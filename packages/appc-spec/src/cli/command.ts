/** What a command may touch of the outside world; the entry point passes the process's streams. */
export interface CommandIO {
  out(text: string | Uint8Array): void;
  err(text: string): void;
  debug: boolean;
}

export interface CommandModule {
  usage: string;
  run(argv: readonly string[], io: CommandIO): Promise<number>;
}
