/**
 * Whether a parsed JSON value is an object whose fields can be read: not null, not an array. Every
 * reader of records, tokenizer files and their configs asks this one.
 */
export const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
