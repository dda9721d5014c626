export { AppcError, ValidationError } from './errors.js';
export type { AppcErrorCode, ValidationIssue } from './errors.js';
