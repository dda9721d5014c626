// Zod-free, so that the lean readers (`@rkt/appc-spec/lean`) share it with the full API.

/** The value of the annotation `name`, if present. */
export function getAnnotation(annotations: readonly { readonly name: string; readonly value: string }[] | undefined, name: string): string | undefined {
  return annotations?.find((a) => a.name === name)?.value;
}
