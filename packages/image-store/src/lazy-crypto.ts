/**
 * node:crypto's functions, with node:crypto loaded on first use rather than with the module that imports
 * them: the commands that load this package but never hash (`rkt list`, `rkt image list`, `rkt status`...)
 * would otherwise pay for its load, about 9 ms of a start.
 */
export const createHash: typeof import('node:crypto').createHash = (...args) => process.getBuiltinModule('node:crypto').createHash(...args);
