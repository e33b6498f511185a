/**
 * Needle-in-a-haystack prompts (issue 22): a haystack cut to an exact number of tokens, a needle
 * sentence put in at a depth, the question after the context, and the answer's tokens as the
 * tokenizer gives them after that question. `meap eval --needle` scores a checkpoint on them.
 *
 * A prompt is BOS (where the tokenizer has one), the context and the question: exactly `length`
 * tokens. The context is the haystack with the needle inserted at a sentence boundary near `depth`
 * per cent of it, tokenized and cut at a token boundary (a cut by characters cannot always hit a
 * length: one character can be several byte-level tokens). The question's ids are those it has
 * after a context, the answer's those it has after the question, each checked to tokenize apart from
 * what precedes it, so that a prompt and its answer are one sequence a model can be scored on.
 *
 * Covered by test/pipeline/needle.test.ts (Llama-2, GPT-2 and Llama-3).
 */
import { createHash } from 'node:crypto';
import { MeapError } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import type { Needle } from '../schemas/needle.ts';

export interface NeedlePrompt extends Needle {
  /** Tokens of the prompt (BOS, context, question). */
  length: number;
  /** Per cent of the context before the needle, as asked. */
  depth: number;
  /** The prompt's ids, `length` of them. */
  ids: Int32Array;
  /** The answer's ids, as they follow the prompt. */
  answerIds: Int32Array;
  /** The index in `ids` of the needle's first token. */
  needleAt: number;
}

/** The encoder a prompt is built with: a document's ids, as `prepare` encodes documents (no BOS, no EOS). */
export type EncodeText = (text: string) => Promise<Int32Array>;

/** How far from the asked depth, in characters, a sentence boundary is still taken over a word boundary. */
export const NEAR_CHARS = 256;

const DOMAIN = 'meap-needle-v1\0';
const KEY_WORDS = [
  'amber', 'basalt', 'cedar', 'cobalt', 'copper', 'coral', 'crimson', 'dune', 'ember', 'falcon',
  'fern', 'garnet', 'glacier', 'granite', 'harbor', 'hazel', 'heron', 'indigo', 'ivory', 'jasper',
  'juniper', 'lagoon', 'lantern', 'maple', 'meadow', 'onyx', 'orchid', 'otter', 'pebble', 'quartz',
  'raven', 'saffron', 'sierra', 'sparrow', 'spruce', 'tundra', 'velvet', 'willow', 'yarrow', 'zephyr',
];

/**
 * The default needle of prompt `index` under `seed`: a key-value fact in the style of the passkey
 * and "magic number" tasks, the key two words and the value seven digits, drawn from a stream of
 * their own (sha256 of a domain tag, the seed and the index), so prompts never share draws.
 */
export function magicNumber(seed: number, index: number): Needle {
  const digest = createHash('sha256').update(`${DOMAIN}${seed}\0${index}`).digest();
  const rng = new Rng(Uint32Array.from({ length: 4 }, (_, i) => digest.readUInt32LE(4 * i)));
  const key = `${KEY_WORDS[rng.below(KEY_WORDS.length)]}-${KEY_WORDS[rng.below(KEY_WORDS.length)]}`;
  const value = String(1_000_000 + rng.below(9_000_000));
  return {
    needle: `The special magic number for ${key} is ${value}.`,
    question: `What is the special magic number for ${key}? The special magic number for ${key} is`,
    answer: ` ${value}`,
  };
}

/**
 * The needle of a grid's prompt `index` (prompts counted by length, then depth, then needle): the
 * user's own in turn, else the seed's magic number. `meap eval --needle` asks these; the needle
 * experiment keeps its training needles apart from them.
 */
export function gridNeedle(given: readonly Needle[] | null, seed: number, index: number): Needle {
  return given === null ? magicNumber(seed, index) : given[index % given.length];
}

const SENTENCE_END = /[.!?。！？]/;

/** A place in `hay` near `target` to put the needle: a sentence boundary within NEAR_CHARS, else a space, else the spot; only at or before `target` when `back`. */
function boundaryNear(hay: string, target: number, back: boolean): number {
  if (target <= 0) return 0;
  const isSentence = (i: number) => SENTENCE_END.test(hay[i - 1]) && /\s/.test(hay[i] ?? ' ');
  const isSpace = (i: number) => /\s/.test(hay[i] ?? ' ');
  for (const test of [isSentence, isSpace]) {
    for (let d = 0; d <= NEAR_CHARS; d++) {
      if (target - d > 0 && test(target - d)) return target - d;
      if (!back && target + d < hay.length && test(target + d)) return target + d;
    }
  }
  return target;
}

/** The context: `hay` with the needle at `at`, a space between it and its neighbours. */
function contextOf(hay: string, at: number, needle: string): { text: string; before: string } {
  const before = hay.slice(0, at).replace(/\s+$/, '');
  const after = hay.slice(at).replace(/^\s+/, '');
  const lead = before.length > 0 ? `${before} ` : '';
  return { text: `${lead}${needle} ${after}`, before };
}

/** The ids `text` adds after `after`: refused where tokenizing them together moves the boundary. */
async function following(encode: EncodeText, after: string, text: string, what: string): Promise<Int32Array> {
  const pre = await encode(after);
  const full = await encode(after + text);
  if (full.length <= pre.length || pre.some((id, i) => full[i] !== id)) {
    throw new MeapError('usage', `${what} does not tokenize apart from the text before it: "${text.trim()}"`, {}, 'start it with a space or a line break');
  }
  return full.slice(pre.length);
}

/**
 * The prompt of `length` tokens with `spec`'s needle at `depth` per cent of its context. `bos`: the
 * tokenizer's BOS id, or null where it has none. Refuses, in one line, a haystack too short for the
 * length.
 */
export async function buildPrompt(encode: EncodeText, bos: number | null, haystack: string, length: number, depth: number, spec: Needle): Promise<NeedlePrompt> {
  const head = bos === null ? 0 : 1;
  // The question as it follows a context's last word, the answer as it follows the question: fixed
  // ids. (After punctuation, Llama-3's split joins the line breaks to it.)
  const question = await following(encode, 'text', `\n\n${spec.question}`, 'the question');
  const answerIds = await following(encode, spec.question, spec.answer, 'the answer');
  const needleLength = (await following(encode, 'text.', ` ${spec.needle}`, 'the needle')).length;
  const context = length - head - question.length;
  const short = (tokens: number) =>
    new MeapError('usage', `the haystack holds ${tokens} tokens with the needle, fewer than the ${context} of context a ${length}-token prompt needs`, {}, 'pass a larger --haystack, or smaller --lengths');
  if (context < needleLength) {
    throw new MeapError('usage', `a ${length}-token prompt leaves ${Math.max(0, context)} tokens of context, fewer than the needle's ${needleLength}`, {}, 'pass larger --lengths');
  }
  // Enough of the haystack for the context, and no more: tokenizing megabytes per prompt would cost.
  let window = Math.min(haystack.length, 8 * context);
  while ((await encode(haystack.slice(0, window))).length < context + needleLength && window < haystack.length) window = Math.min(haystack.length, 2 * window);
  const hay = haystack.slice(0, window);
  // The needle's first token at depth per cent of the context's tokens that are not the needle's.
  const want = Math.round((depth / 100) * (context - needleLength));
  let lo = 0;
  let hi = hay.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await encode(hay.slice(0, mid))).length <= want) lo = mid;
    else hi = mid - 1;
  }
  const build = async (at: number) => {
    const { text, before } = contextOf(hay, at, spec.needle);
    return { ids: await encode(text), needleAt: head + (before.length > 0 ? (await encode(before)).length : 0) };
  };
  let placed = await build(boundaryNear(hay, lo, false));
  // Near the end, a boundary after the spot could push the needle past the cut.
  if (placed.needleAt + needleLength > head + context) placed = await build(boundaryNear(hay, lo, true));
  if (placed.ids.length < context) throw short(placed.ids.length);
  const ids = new Int32Array(length);
  if (bos !== null) ids[0] = bos;
  ids.set(placed.ids.subarray(0, context), head);
  ids.set(question, head + context);
  return { ...spec, length, depth, ids, answerIds, needleAt: placed.needleAt };
}
