/**
 * The retrieval documents of `npm run experiment:needle`: needle prompts in the format `meap eval
 * --needle` asks them (a haystack window with a magic-number fact at a random depth, the question, the
 * answer), written as text records so that `meap prepare` reads them like any corpus. Their keys and
 * values are disjoint from the evaluation's, so the models learn the format, not the answers.
 *
 * Each `seqLen` tokens of documents (BOS and EOS included) fill exactly one packed row: prepare packs
 * each input file on its own, so a document never straddles two rows and loses its needle to the cut.
 */
import { buildPrompt, gridNeedle, magicNumber, type EncodeText } from '../pipeline/needle.ts';
import { Rng } from '../core/rng.ts';
import type { Needle } from '../schemas/needle.ts';

/** The seed the training needles are drawn under; the evaluation's (`meap eval --needle --seed`) is another. */
const TRAIN_NEEDLE_SEED = 1_000_003;
/** Fewest tokens of a document (BOS, context, question, answer, EOS): a needle and its question take about 65 in the experiment's vocabulary. */
export const MIN_DOC_TOKENS = 80;

export interface RetrievalCorpus {
  /** JSONL lines, `{"text": ...}`. */
  lines: string[];
  documents: number;
  /** Drawn needles dropped because their key or value is one the evaluation asks about. */
  excluded: number;
}

/** The evaluation's needles: those `meap eval --needle --seed SEED` asks on a grid of `prompts`. */
export function evalNeedles(seed: number, prompts: number): Needle[] {
  return Array.from({ length: prompts }, (_, i) => gridNeedle(null, seed, i));
}

/** The key of a magic-number needle: the words between "for " and the question mark. */
const keyOf = (n: Needle) => n.question.slice(n.question.indexOf(' for ') + 5, n.question.indexOf('?'));

/**
 * `rows` rows of retrieval documents cut from `haystack` (the training text), none sharing a key or
 * value with `avoid`. `decode` turns a prompt's ids back into its text; a document whose text does not
 * tokenize back to the same ids (a cut inside a character) is drawn again from another window.
 */
export async function retrievalCorpus(opts: {
  encode: EncodeText;
  decode: (ids: Int32Array) => string;
  haystack: string;
  seqLen: number;
  rows: number;
  avoid: Needle[];
  seed: number;
}): Promise<RetrievalCorpus> {
  const { encode, decode, haystack, seqLen } = opts;
  const keys = new Set(opts.avoid.map(keyOf));
  const values = new Set(opts.avoid.map((n) => n.answer));
  const rng = new Rng(Uint32Array.of(opts.seed, 0x6e656564, 0x6c652121, 22));
  const lines: string[] = [];
  let index = 0;
  let excluded = 0;
  const nextNeedle = (): Needle => {
    for (;;) {
      const n = magicNumber(TRAIN_NEEDLE_SEED, index++);
      if (!keys.has(keyOf(n)) && !values.has(n.answer)) return n;
      excluded++;
    }
  };
  // Windows of about 12 characters a token: buildPrompt tokenizes only as much as it needs.
  const windowChars = 12 * seqLen;
  for (let row = 0; row < opts.rows; row++) {
    let left = seqLen;
    while (left > 0) {
      // A whole document for what is left of the row when that is short enough, else a length that
      // leaves room for at least one more.
      const total = left - MIN_DOC_TOKENS < MIN_DOC_TOKENS ? left : MIN_DOC_TOKENS + rng.below(left - 2 * MIN_DOC_TOKENS + 1);
      const spec = nextNeedle();
      const answerTokens = (await encode(spec.question + spec.answer)).length - (await encode(spec.question)).length;
      for (;;) {
        const start = rng.below(Math.max(1, haystack.length - windowChars));
        const window = haystack.slice(start, start + windowChars);
        // BOS and EOS come from prepare.
        const p = await buildPrompt(encode, null, window, total - 2 - answerTokens, rng.below(101), spec);
        const text = decode(p.ids) + spec.answer;
        const back = await encode(text);
        const want = [...p.ids, ...p.answerIds];
        if (back.length === want.length && back.every((id, i) => id === want[i])) {
          lines.push(`${JSON.stringify({ text })}\n`);
          break;
        }
      }
      left -= total;
    }
  }
  return { lines, documents: lines.length, excluded };
}
