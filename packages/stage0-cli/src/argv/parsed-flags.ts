import type { FlagSpec, FlagValue } from './flag-spec.js';

/**
 * The flag values of one invocation, defaults filled in. Getters are typed by kind and throw on a
 * name the command did not declare: that is a bug in the command, not bad user input.
 */
export class ParsedFlags {
  readonly #specs: ReadonlyMap<string, FlagSpec>;
  readonly #values: ReadonlyMap<string, FlagValue>;
  readonly #changed: ReadonlySet<string>;
  readonly #positions: ReadonlyMap<string, readonly number[]>;

  constructor(
    specs: ReadonlyMap<string, FlagSpec>,
    values: ReadonlyMap<string, FlagValue>,
    changed: ReadonlySet<string>,
    positions: ReadonlyMap<string, readonly number[]> = new Map(),
  ) {
    this.#specs = specs;
    this.#values = values;
    this.#changed = changed;
    this.#positions = positions;
  }

  /**
   * For each occurrence of the flag, in order, how many positional arguments came before it: rkt's
   * `--mount` applies to every app before the first image and to the image before it after one.
   */
  positions(name: string): readonly number[] {
    this.#spec(name);
    return this.#positions.get(name) ?? [];
  }

  bool(name: string): boolean {
    return this.#get(name, 'bool') as boolean;
  }

  string(name: string): string {
    return this.#get(name, 'string') as string;
  }

  strings(name: string): readonly string[] {
    return this.#get(name, 'strings') as readonly string[];
  }

  int(name: string): number {
    return this.#get(name, 'int') as number;
  }

  /** Whether this command declares the flag at all (commands that share option readers differ in their flags). */
  has(name: string): boolean {
    return this.#specs.has(name);
  }

  /** Whether the user gave the flag (pflag's `Changed`), as opposed to its default applying. */
  changed(name: string): boolean {
    this.#spec(name);
    return this.#changed.has(name);
  }

  #get(name: string, kind: FlagSpec['kind']): FlagValue {
    const spec = this.#spec(name);
    if (spec.kind !== kind) throw new TypeError(`flag --${name} is a ${spec.kind} flag, read as ${kind}`);
    return this.#values.get(name) ?? spec.default;
  }

  #spec(name: string): FlagSpec {
    const spec = this.#specs.get(name);
    if (spec === undefined) throw new TypeError(`flag --${name} is not declared by this command`);
    return spec;
  }
}
