/**
 * Flag declarations, pflag style: every flag has a long name (`--no-legend`), an optional one-letter
 * shorthand (`-h`), a default shown in the help and a one-line usage. Values are checked while
 * parsing, so a command only ever sees valid ones.
 */
interface FlagSpecBase {
  readonly name: string;
  readonly short?: string;
  readonly usage: string;
  /** Accepted, but left out of the help (rkt hid its profiling flags this way). */
  readonly hidden?: boolean;
}

/** `--flag`, `--flag=true|false`; never takes the next argument as its value. */
export interface BoolFlagSpec extends FlagSpecBase {
  readonly kind: 'bool';
  readonly default: boolean;
}

/** `--flag=value` or `--flag value`; given twice, the last one wins. */
export interface StringFlagSpec extends FlagSpecBase {
  readonly kind: 'string';
  readonly default: string;
  /** When set, any other value is refused with the list of these. */
  readonly choices?: readonly string[];
  /** Checks or normalises a value; throws an `Error` whose message says what is wrong with it. */
  readonly parse?: (raw: string) => string;
  /**
   * pflag's NoOptDefVal: the value of a bare `--flag`, which then never takes the next argument as its value
   * (rkt's `status --wait` and `--wait-ready`, `true` or a timeout).
   */
  readonly noOptDefault?: string;
  /**
   * Set where rkt's flag was not a Go string but a time.Duration or a flag type of its own (a pflag Value: a
   * list of options, an output format, a stage1 location). rkt's help quoted a string's default
   * (`--pull-policy="new"`) and showed these as they are (`--grace-period=30m0s`, `--format=`).
   */
  readonly goType?: 'duration' | 'value';
}

/** Repeatable: every occurrence adds to the list (split on `separator` when one is set). */
export interface StringsFlagSpec extends FlagSpecBase {
  readonly kind: 'strings';
  readonly default: readonly string[];
  readonly separator?: string;
  readonly parse?: (raw: string) => string;
  /** As for a string flag: a bare `--net` is rkt's `--net=default`. */
  readonly noOptDefault?: string;
}

/** A base-10 integer, optionally bounded. */
export interface IntFlagSpec extends FlagSpecBase {
  readonly kind: 'int';
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
}

export type FlagSpec = BoolFlagSpec | StringFlagSpec | StringsFlagSpec | IntFlagSpec;
export type FlagValue = boolean | string | readonly string[] | number;

type Extra<T extends FlagSpec> = Omit<T, 'kind' | 'name' | 'usage' | 'default'>;

export const flag = {
  bool: (name: string, usage: string, extra: Extra<BoolFlagSpec> & { default?: boolean } = {}): BoolFlagSpec => ({
    default: false,
    ...extra,
    kind: 'bool',
    name,
    usage,
  }),
  string: (
    name: string,
    usage: string,
    extra: Extra<StringFlagSpec> & { default?: string } = {},
  ): StringFlagSpec => ({ default: '', ...extra, kind: 'string', name, usage }),
  strings: (
    name: string,
    usage: string,
    extra: Extra<StringsFlagSpec> & { default?: readonly string[] } = {},
  ): StringsFlagSpec => ({ default: [], ...extra, kind: 'strings', name, usage }),
  int: (name: string, usage: string, extra: Extra<IntFlagSpec> & { default?: number } = {}): IntFlagSpec => ({
    default: 0,
    ...extra,
    kind: 'int',
    name,
    usage,
  }),
};

/** Go's strconv.ParseBool, which pflag uses for `--flag=value`. */
export function parseBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
  return undefined;
}
