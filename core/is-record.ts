/**
 * Whether a parsed JSON value is an object whose fields can be read: not null, not an array. Every
 * reader of records, tokenizer files and their configs asks this one.
 */
/** A parsed JSON object, as isRecord finds it. */
export type JsonObject = Record<string, unknown>;

export const isRecord = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
