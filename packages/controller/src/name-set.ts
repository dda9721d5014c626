/**
 * A set of names given as one whitespace-separated text, split into a Set on its first use. The lists it holds
 * (the x86_64 syscalls, the errno names, the capabilities) are only read when a flag or an isolator names one, and
 * building them as each module loaded cost every `rkt run` ~0.5 ms and ~50 KB of its young generation.
 */
export class NameSet implements ReadonlySet<string> {
  readonly #text: string;
  #names: Set<string> | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  #set(): Set<string> {
    this.#names ??= new Set(this.#text.split(/\s+/).filter((s) => s !== ''));
    return this.#names;
  }

  has(name: string): boolean {
    return this.#set().has(name);
  }

  get size(): number {
    return this.#set().size;
  }

  forEach(callback: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const n of this.#set()) callback.call(thisArg, n, n, this);
  }

  entries(): IterableIterator<[string, string]> {
    return this.#set().entries();
  }

  keys(): IterableIterator<string> {
    return this.#set().keys();
  }

  values(): IterableIterator<string> {
    return this.#set().values();
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.#set()[Symbol.iterator]();
  }
}
