/**
 * Prompt templates for `meap prepare --mode sft`, compiled against one tokenizer into a function from
 * an example to prompt pieces (template-file.ts reads them). No zod here: unit worker threads compile
 * the template that the main thread read.
 *
 * Record text is never searched for special tokens: only the template's own literal text can produce a
 * special id, and only through a listed marker. Everything else goes to the encoder as plain text.
 */
import { configError } from '../core/errors.ts';
import type { Example } from '../datasets/types.ts';
import { parsePrompt, type Placeholder, type TemplateSegment } from '../schemas/prompt.ts';
import type { TemplateFile } from '../schemas/template.ts';
import type { TokenizerInfo } from './tokenize/load.ts';

export type PromptPiece = { text: string } | { special: number; marker: string };

export interface CompiledTemplate {
  name: string;
  /** Of the template file's bytes; null for a builtin. */
  sha256: string | null;
  /** The ids of the template's `bosToken` and `eosToken`; null where it leaves them to the tokenizer. */
  bosId: number | null;
  eosId: number | null;
  /** The prompt only: the answer is the caller's to append. */
  render(ex: Example): PromptPiece[];
}

type CompiledSegment = { text: string } | { placeholder: Placeholder } | { special: number; marker: string };

/** A template as read: its file, valid, and where it came from. Plain data, so a worker thread can compile it too. */
export interface TemplateSource {
  file: TemplateFile;
  /** Of the template file's bytes; null for a builtin. */
  sha256: string | null;
  /** How errors name it: `template "alpaca"`, `template file PATH`. */
  label: string;
}

export function compileTemplate({ file: t, sha256, label }: TemplateSource, tok: TokenizerInfo): CompiledTemplate {
  const specials = tok.specialTokens;
  const markerIds = new Map<string, number>();
  for (const marker of t.markers ?? []) {
    const id = specials.get(marker);
    if (id === undefined) {
      throw configError(
        `${label} needs the marker ${JSON.stringify(marker)} to be one special token, but the tokenizer ${tok.path} has no special added token ${JSON.stringify(marker)}`,
        'use a template written for this tokenizer, e.g. --template alpaca',
      );
    }
    if (id === tok.specials.maskTokenId) {
      throw configError(`${label}: the marker ${JSON.stringify(marker)} is the mask token (id ${id}), which only masking may place`);
    }
    markerIds.set(marker, id);
  }
  const framing = (key: 'bosToken' | 'eosToken'): number | null => {
    const token = t[key];
    if (token === undefined) return null;
    const id = specials.get(token);
    if (id === undefined) {
      throw configError(`${label}: its ${key} ${JSON.stringify(token)} is not a special added token of the tokenizer ${tok.path}`, 'use a template written for this tokenizer, e.g. --template alpaca');
    }
    if (id === tok.specials.maskTokenId) throw configError(`${label}: its ${key} ${JSON.stringify(token)} is the mask token (id ${id}), which only masking may place`);
    return id;
  };
  const bosId = framing('bosToken');
  const eosId = framing('eosToken');

  const compile = (text: string): CompiledSegment[] => {
    const r = parsePrompt(text);
    // The schema has parsed both prompts already.
    if ('error' in r) throw new Error(`unreachable: ${r.error}`);
    const out = r.segments.flatMap((s) => splitAtMarkers(s, markerIds));
    // A special token's text left in the template would be encoded as ordinary pieces: almost
    // certainly a marker the author forgot to list.
    for (const s of out) {
      if (!('text' in s)) continue;
      for (const content of specials.keys()) {
        if (content !== '' && s.text.includes(content)) {
          throw configError(
            `${label}: the prompt contains ${JSON.stringify(content)}, a special token of the tokenizer, but "markers" does not list it`,
            'add it to "markers" to emit it as one token',
          );
        }
      }
    }
    return out;
  };
  const plain = compile(t.prompt);
  const withInput = t.promptWithInput === undefined ? plain : compile(t.promptWithInput);
  const defaultSystem = t.system ?? '';

  return {
    name: t.name,
    sha256,
    bosId,
    eosId,
    render(ex: Example): PromptPiece[] {
      const values: Record<Placeholder, string> = {
        instruction: ex.instruction,
        input: ex.input,
        query: ex.input === '' ? ex.instruction : `${ex.instruction}\n\n${ex.input}`,
        system: ex.system ?? defaultSystem,
      };
      const pieces: PromptPiece[] = [];
      let text = '';
      for (const s of ex.input === '' ? plain : withInput) {
        if ('special' in s) {
          if (text !== '') pieces.push({ text });
          text = '';
          pieces.push({ special: s.special, marker: s.marker });
        } else {
          text += 'text' in s ? s.text : values[s.placeholder];
        }
      }
      if (text !== '') pieces.push({ text });
      return pieces;
    },
  };
}

/**
 * The tokenizer as an SFT run frames examples with it: the template's BOS and EOS replace the
 * tokenizer's, unless `--bos-id` / `--eos-id` name ids themselves.
 */
export function frameWithTemplate<T extends TokenizerInfo>(tok: T, template: CompiledTemplate, given: { bosId?: number; eosId?: number }): T {
  const bosId = given.bosId ?? template.bosId ?? tok.specials.bosId;
  const eosId = given.eosId ?? template.eosId ?? tok.specials.eosId;
  const specialIds = new Set(tok.specialIds);
  for (const id of [bosId, eosId]) if (id !== null) specialIds.add(id);
  return { ...tok, specials: { ...tok.specials, bosId, eosId }, specialIds };
}

/** Longest marker first, so that of two markers where one starts the other the longer one wins. */
function splitAtMarkers(seg: TemplateSegment, markerIds: ReadonlyMap<string, number>): CompiledSegment[] {
  if ('placeholder' in seg) return [seg];
  const markers = [...markerIds.keys()].sort((a, b) => b.length - a.length);
  const out: CompiledSegment[] = [];
  const text = seg.literal;
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const marker = markers.find((m) => text.startsWith(m, i));
    if (marker === undefined) {
      i++;
      continue;
    }
    if (i > start) out.push({ text: text.slice(start, i) });
    out.push({ special: markerIds.get(marker)!, marker });
    i += marker.length;
    start = i;
  }
  if (start < text.length) out.push({ text: text.slice(start) });
  return out;
}
