/** One JSON text → a record value, for the JSONL reader and the JSON array reader alike. */

/** Only a `\uD800`–`\uDFFF` escape can put a surrogate into a parsed string: raw UTF-8 cannot encode one. */
const SURROGATE_ESCAPE = /\\u[dD][89abcdefABCDEF]/;

type ParseResult = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Deeper values are refused. V8's parser is iterative and accepts any depth, but other engines (and
 * recursive code downstream, such as `wellFormed` below) run out of stack; a fixed limit makes the
 * outcome the same everywhere. Real records nest a handful of levels.
 */
export const MAX_JSON_DEPTH = 1000;

export function parseJsonText(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // A RangeError here is a parser that recursed too deep: the same verdict as the depth check.
    if (e instanceof RangeError) return { ok: false, reason: `nested more than ${MAX_JSON_DEPTH} levels deep` };
    return { ok: false, reason: shortReason(e) };
  }
  if (deeperThan(value, MAX_JSON_DEPTH)) return { ok: false, reason: `nested more than ${MAX_JSON_DEPTH} levels deep` };
  // Lone surrogates would later fail UTF-8 encoding (tokenizer, Arrow); U+FFFD is what a
  // non-fatal decoder would have produced for the same broken text.
  return { ok: true, value: SURROGATE_ESCAPE.test(text) ? wellFormed(value) : value };
}

/** Iterative, so that checking depth cannot itself overflow the stack. */
function deeperThan(root: unknown, limit: number): boolean {
  if (root === null || typeof root !== 'object') return false;
  const stack: Array<[object, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limit) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
    }
  }
  return false;
}

function shortReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.length > 120 ? `${msg.slice(0, 117)}...` : msg;
}

const toWellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

function wellFormed(v: unknown): unknown {
  if (typeof v === 'string') return toWellFormed(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = wellFormed(v[i]);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    // fromEntries defines own keys, so a "__proto__" key stays data, as JSON.parse left it.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [toWellFormed(k), wellFormed(x)]));
  }
  return v;
}
