/**
 * Namespace objects of the CLI's CommonJS bundles, filled on first use instead of at every start.
 *
 * A module that the bundle imports with `import()` (the full `@rkt/appc-spec` index, the fetcher, the tree
 * renderer, the NATS bus, the metadata service...) gets a namespace object from esbuild, filled at the
 * bundle's top level with one accessor per export (its `__export` helper: a `for in` and a `defineProperty`
 * each), although its code only initialises when the import runs. `rkt run`'s bundle defined 143 of them on
 * every start, for imports a plain run never makes: 0.4-0.7 ms.
 *
 * Here, in the minified chunk: a namespace whose every use is the import's `(init(), ns)` has its
 * `__export(ns, {...})` made a `pending(ns, {...})` that only records the getters, and each `(init(), ns)` a
 * `fill(init, ns)` that initialises the module, defines the accessors on first use and gives the namespace.
 * A namespace used any other way is left as esbuild made it. Every replacement is as long as what it
 * replaces, so the source maps (read under --debug) stay right.
 */

const ID = '[\\w$]+';
const escape = (s: string): string => s.replace(/[$]/g, '\\$');

/** Identifiers of `length` characters that the chunk does not use, for the two helpers. */
function unusedNames(code: string, length: number, count: number): string[] {
  const used = new Set(code.match(/(?<![\w$])[A-Za-z_$][\w$]*/g) ?? []);
  const chars = '$_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const out: string[] = [];
  const walk = (prefix: string): void => {
    if (out.length === count) return;
    if (prefix.length === length) {
      if (!used.has(prefix)) out.push(prefix);
      return;
    }
    // An identifier cannot start with a digit; starting with `$` keeps clear of the minifier's usual names.
    for (const c of prefix === '' ? '$' : chars) walk(prefix + c);
  };
  walk('');
  return out;
}

export function lazyNamespaces(code: string): string {
  // esbuild's `__export`: `NAME=(e,t)=>{for(var n in t)DEF(e,n,{get:t[n],enumerable:!0})}`.
  const helper = new RegExp(`(?<![\\w$])(${ID})=\\((${ID}),(${ID})\\)=>\\{for\\(var (${ID}) in \\3\\)${ID}\\(\\2,\\4,\\{get:\\3\\[\\4\\],enumerable:!0\\}\\)\\}`).exec(code);
  if (helper === null) return code;
  const exportName = helper[1]!;
  const definitions = [...code.matchAll(new RegExp(`var (${ID})=\\{\\};${escape(exportName)}\\(\\1,\\{(?:${ID}:\\(\\)=>${ID},?)*\\}\\);`, 'g'))];
  // The rest of the chunk: where a namespace can be used (the definitions' getter keys are export names).
  let rest = code;
  for (const d of definitions) rest = rest.replace(d[0], () => '');
  const lazy = new Map<string, string>(); // namespace -> its module's init function
  for (const d of definitions) {
    const ns = d[1]!;
    // Any use, even as a name that merely looks like it (a property key, a shadowing local): then not lazy.
    const uses = [...rest.matchAll(new RegExp(`(?<![\\w$.])${escape(ns)}(?![\\w$])`, 'g'))].length;
    const imports = [...rest.matchAll(new RegExp(`=>\\((${ID})\\(\\),${escape(ns)}\\)`, 'g'))];
    const inits = new Set(imports.map((m) => m[1]!));
    if (imports.length === 0 || uses !== imports.length || inits.size !== 1) continue;
    lazy.set(ns, [...inits][0]!);
  }
  if (lazy.size === 0) return code;
  // `pending(` as long as `__export(`; `fill(init,ns)` as long as `(init(),ns)` when `fill` has two characters.
  const [fill] = unusedNames(code, 2, 1);
  const pending = unusedNames(code, exportName.length, 2).find((n) => n !== fill);
  if (fill === undefined || pending === undefined) return code;
  let out = code;
  for (const [ns, init] of lazy) {
    // Replaced by functions: a `$$` or `$&` in a name means something in a replacement string.
    out = out.replace(`var ${ns}={};${exportName}(${ns},{`, () => `var ${ns}={};${pending}(${ns},{`);
    out = out.replaceAll(`=>(${init}(),${ns})`, () => `=>${fill}(${init},${ns})`);
  }
  // Function declarations, hoisted: callable from the bundle's first statement. The records live on the
  // first function, as a `var` of the footer would still be undefined while the top level runs.
  const helpers =
    `\nfunction ${pending}(n,g){(${pending}.p??=new Map).set(n,g)}` +
    `\nfunction ${fill}(i,n){i();const g=${pending}.p?.get(n);if(g!==void 0){${pending}.p.delete(n);${exportName}(n,g)}return n}`;
  const close = out.lastIndexOf('\n});');
  return close === -1 ? out + helpers : out.slice(0, close) + helpers + out.slice(close);
}
