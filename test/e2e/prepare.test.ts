/**
 * End to end through the real CLI on real fixtures: shards decode back to the original text,
 * masks follow the rules, and output is byte-identical across runs, worker counts and engines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PretrainManifestSchema, type PretrainManifest as Manifest } from '../../schemas/manifest.ts';
import { createDecoder } from '../../pipeline/tokenize/decode.ts';
import { loadTokenizer } from '../../pipeline/tokenize/load.ts';
import { gpt2, llama2, meap, readJsonl, readShards, repoRoot, slimpajama, tempDir, treeDigest } from '../helpers/cli.ts';

function readOutput(dir: string) {
  const { manifest, rows } = readShards(dir);
  return { manifest: PretrainManifestSchema.parse(manifest), rows };
}

describe('meap prepare on SlimPajama-layout fixtures (Llama-2)', () => {
  let out: string;
  let manifest: Manifest;
  let rows: ReturnType<typeof readOutput>['rows'];

  beforeAll(() => {
    out = path.join(tempDir(), 'out');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl.zst'), slimpajama('chunk_1.jsonl'), '--out', out, '--tokenizer', llama2, '--progress', 'none']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    ({ manifest, rows } = readOutput(out));
  });

  it('writes exactly manifest.json, the shards and the two Hugging Face files, with the fixed manifest fields', () => {
    expect(fs.readdirSync(out).sort()).toEqual(['dataset_info.json', 'manifest.json', 'state.json', ...manifest.shards.map((s) => s.file)].sort());
    expect(manifest).toMatchObject({
      format: 'meap-shards',
      version: 2,
      shardFormat: 'arrow-ipc-stream',
      mode: 'pretrain',
      seqLen: 4096,
      seed: 0,
      masking: { strategy: 'random', ratio: 0.15, spanLength: null },
      tokenizer: { vocabSize: 32000, maskTokenId: 32000, bosId: 1, eosId: 2 },
    });
    expect(manifest.inputs.map((i) => [i.path, i.records])).toEqual([
      ['chunk_0.jsonl.zst', 153],
      ['chunk_1.jsonl', 141],
    ]);
    expect(manifest.totals.documents).toBe(294);
    const text = fs.readFileSync(path.join(out, 'manifest.json'), 'utf8');
    expect(text).not.toContain(out);
    expect(text).not.toContain('/shared/');
  });

  it('decodes every row back to the original documents, in order, with nothing dropped', async () => {
    const decoder = await createDecoder(await loadTokenizer(llama2));
    for (const [input, source] of [
      ['chunk_0.jsonl.zst', slimpajama('chunk_0.jsonl')],
      ['chunk_1.jsonl', slimpajama('chunk_1.jsonl')],
    ]) {
      const labels = rows.filter((r) => r.input === input).flatMap((r) => Array.from(r.labels));
      const docs: number[][] = [];
      for (const id of labels) {
        if (id === 1) docs.push([]);
        else if (id !== 2) docs[docs.length - 1].push(id);
      }
      expect(labels.filter((id) => id === 1).length).toBe(labels.filter((id) => id === 2).length);
      const texts = readJsonl(source).map((r) => r.text as string);
      expect(docs.length).toBe(texts.length);
      // SentencePiece decodes its own space marker U+2581 as a space, so a literal one cannot survive.
      docs.forEach((ids, i) => expect(decoder.decode(ids)).toBe(texts[i].replaceAll('\u2581', ' ')));
    }
  });

  it('packs rows of exactly 4096 tokens except the last of each file, with position_ids restarting per document and row', () => {
    for (const input of ['chunk_0.jsonl.zst', 'chunk_1.jsonl']) {
      const own = rows.filter((r) => r.input === input);
      own.slice(0, -1).forEach((r) => expect(r.labels.length).toBe(4096));
      expect(own.at(-1)!.labels.length).toBeLessThanOrEqual(4096);
      for (const r of own) {
        expect(r.positions[0]).toBe(0);
        for (let i = 1; i < r.labels.length; i++) expect(r.positions[i]).toBe(r.labels[i] === 1 ? 0 : r.positions[i - 1] + 1);
      }
    }
  });

  it('masks exactly floor(0.15 × eligible) positions per row, never BOS/EOS or the last position', () => {
    let masked = 0;
    for (const r of rows) {
      let eligible = 0;
      let count = 0;
      for (let i = 0; i < r.labels.length; i++) {
        const special = r.labels[i] === 1 || r.labels[i] === 2 || i === r.labels.length - 1;
        if (!special) eligible++;
        if (r.inputIds[i] !== r.labels[i]) {
          count++;
          expect(r.inputIds[i]).toBe(32000);
          expect(special).toBe(false);
        }
      }
      expect(count).toBe(Math.floor(0.15 * eligible));
      masked += count;
    }
    expect(manifest.totals.maskedTokens).toBe(masked);
  });

  it('passes `meap verify`, and `meap inspect` shows masked tokens as [MASK:original]', () => {
    const v = meap(['verify', out]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('OK');
    const i = meap(['inspect', out, '--row', '1', '--tokenizer', llama2]);
    expect(i.code).toBe(0);
    expect(i.stdout).toMatch(/\[MASK:[^\]]*\]/);
    const j = JSON.parse(meap(['inspect', out, '--json', '--tokenizer', llama2]).stdout);
    expect(j.row.labels.length).toBe(4096);
  });
});

describe('determinism', () => {
  it('gives byte-identical output across runs, worker counts and all three engines, files on workers or not', () => {
    const base = tempDir();
    const inputs = [slimpajama('chunk_1.jsonl.zst'), slimpajama('chunk_0.jsonl.zst')];
    const run = (name: string, extra: string[], files = inputs) => {
      const out = path.join(base, name);
      const r = meap(['prepare', ...files, '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--mask', 'span', '--shard-rows', '7', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      return treeDigest(out);
    };
    // --workers 1: everything on this thread; 2 and 3: whole files on worker threads (bpe).
    const a = run('a', ['--workers', '1']);
    expect(Object.keys(a).length).toBeGreaterThan(3);
    expect(run('b', ['--workers', '2'])).toEqual(a);
    expect(run('c', ['--workers', '3'])).toEqual(a);
    expect(run('d', ['--workers', '2', '--engine', 'js'])).toEqual(a);
    expect(run('e', ['--workers', '2', '--engine', 'native'])).toEqual(a);
    // One file: this thread reads and packs while workers tokenize its batches.
    const one = [slimpajama('chunk_0.jsonl')];
    const single = run('f', ['--workers', '1'], one);
    expect(run('g', ['--workers', '2'], one)).toEqual(single);
    expect(run('h', ['--workers', '2', '--engine', 'native'], one)).toEqual(single);
  });

  it('says in one line when the bpe engine does not apply, and tokenizes with the native one', () => {
    const dir = tempDir();
    // An NFKC step before Llama-2's normalizer: still BPE, but not a shape whose split is proven.
    const doc = JSON.parse(fs.readFileSync(llama2, 'utf8'));
    doc.normalizer.normalizers.unshift({ type: 'NFKC' });
    const tok = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(tok, JSON.stringify(doc));
    const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', path.join(dir, 'out'), '--tokenizer', tok, '--progress', 'none', '--limit', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      'meap: the bpe engine does not apply to this tokenizer (its normalizer and pre-tokenizer are neither SentencePiece-style nor ByteLevel); using the native engine\n',
    );
  });

  it('reports a bad record of one file among several on workers in one line, exit 2, no manifest', () => {
    const dir = tempDir();
    const bad = path.join(dir, 'b.jsonl');
    fs.writeFileSync(bad, '{"text":"fine"}\n{"text":\n');
    const out = path.join(dir, 'out');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl'), bad, slimpajama('chunk_1.jsonl'), '--out', out, '--tokenizer', llama2, '--progress', 'none', '--workers', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^meap: error: \S*b\.jsonl:2: line is not valid JSON/);
    expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  });

  it('changes every row\'s mask with the seed and keeps the labels', () => {
    const base = tempDir();
    const outs = ['0', '1'].map((seed) => {
      const out = path.join(base, seed);
      expect(meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--seed', seed]).code).toBe(0);
      return readOutput(out).rows;
    });
    outs[0].forEach((r, i) => {
      expect(Array.from(r.labels)).toEqual(Array.from(outs[1][i].labels));
      expect(Array.from(r.inputIds)).not.toEqual(Array.from(outs[1][i].inputIds));
    });
  });
});

describe('special strings in documents stay plain text', () => {
  it('never turns <s>, </s>, <unk> or <|endoftext|> in text into special ids', () => {
    const dir = tempDir();
    const input = path.join(dir, 'specials.jsonl');
    const texts = ['WikiText says <unk> a lot: the <unk> river .', 'if (tok == "</s>") return; // <s> starts', 'GPT-2 ends with <|endoftext|> and then <|endoftext|>'];
    fs.writeFileSync(input, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    for (const [tok, specials] of [
      [llama2, [0, 1, 2]],
      [gpt2, [50256]],
    ] as const) {
      const out = path.join(dir, `out-${specials.length}`);
      expect(meap(['prepare', input, '--out', out, '--tokenizer', tok, '--progress', 'none', '--mask', 'none']).code).toBe(0);
      const labels = readOutput(out).rows.flatMap((r) => Array.from(r.labels));
      const eos = specials.at(-1)!;
      expect(labels.filter((id) => specials.includes(id as never)).length).toBe(texts.length * (tok === llama2 ? 2 : 1));
      expect(labels.filter((id) => id === eos).length).toBe(texts.length);
    }
  });
});

describe('reading options', () => {
  it('--exclude-set, --limit, --text-field, --no-bos and --no-eos', () => {
    const dir = tempDir();
    const run = (extra: string[], input = slimpajama('chunk_0.jsonl')) => {
      const out = path.join(dir, String(Math.random()).slice(2));
      const r = meap(['prepare', input, '--out', out, '--tokenizer', llama2, '--progress', 'none', '--mask', 'none', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return readOutput(out);
    };
    const records = readJsonl(slimpajama('chunk_0.jsonl')) as { meta: { redpajama_set_name: string } }[];
    const github = records.filter((r) => r.meta.redpajama_set_name === 'RedPajamaGithub').length;
    const ex = run(['--exclude-set', 'RedPajamaGithub']);
    expect(ex.manifest.totals.skipped).toEqual({ excludedSet: github });
    expect(ex.manifest.totals.documents).toBe(records.length - github);

    const lim = run(['--limit', '5']);
    expect(lim.manifest.inputs[0].records).toBe(5);
    expect(lim.manifest.totals.documents).toBe(5);

    const bare = run(['--no-bos', '--no-eos', '--limit', '3']);
    const all = bare.rows.flatMap((r) => Array.from(r.labels));
    expect(all.includes(1) || all.includes(2)).toBe(false);

    const field = path.join(dir, 'content.jsonl');
    fs.writeFileSync(field, `${JSON.stringify({ content: 'hello world' })}\n${JSON.stringify({ content: '' })}\n`);
    const f = run(['--text-field', 'content'], field);
    expect(f.manifest.totals.documents).toBe(1);
    expect(f.manifest.totals.skipped).toEqual({ emptyText: 1 });
  });
});

describe('bad input', () => {
  const dir = tempDir();
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, ['{"text": "fine"}', '{"text": "broken', '{"meta": {}}', '{"text": ""}', '{"text": "also fine"}'].join('\n') + '\n');

  it('fails with one line naming file and line, exit 2, and no manifest', () => {
    const out = path.join(dir, 'out-fail');
    const r = meap(['prepare', bad, '--out', out, '--tokenizer', llama2, '--progress', 'none']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('bad.jsonl:2');
    expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  });

  it('skips and counts by reason under --on-error skip', () => {
    const out = path.join(dir, 'out-skip');
    const r = meap(['prepare', bad, '--out', out, '--tokenizer', llama2, '--progress', 'none', '--on-error', 'skip']);
    expect(r.code, r.stderr).toBe(0);
    const m = readOutput(out).manifest;
    expect(m.totals.skipped).toEqual({ emptyText: 1, invalidJson: 1, missingText: 1 });
    expect(m.totals.documents).toBe(2);
    expect(m.inputs[0].records).toBe(5);
  });

  it('names a truncated .zst and an unreadable tokenizer', () => {
    const zst = path.join(dir, 'cut.jsonl.zst');
    const bytes = fs.readFileSync(slimpajama('chunk_0.jsonl.zst'));
    fs.writeFileSync(zst, bytes.subarray(0, bytes.length >> 1));
    const r = meap(['prepare', zst, '--out', path.join(dir, 'out-zst'), '--tokenizer', llama2, '--progress', 'none']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cut.jsonl.zst');
    const t = meap(['prepare', bad, '--out', path.join(dir, 'out-tok'), '--tokenizer', path.join(dir, 'nope.json')]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('nope.json');
    expect(t.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects bad options with exit 2', () => {
    expect(meap(['prepare', bad, '--out', dir, '--tokenizer', llama2, '--mask-ratio', '1.5']).code).toBe(2);
    expect(meap(['prepare', bad, '--out', dir, '--tokenizer', llama2, '--mask', 'blocks']).code).toBe(2);
    expect(meap(['frobnicate']).code).toBe(2);
    expect(meap(['--help']).code).toBe(0);
  });
});

describe('meap verify', () => {
  it('names a flipped byte, a truncated shard, a missing shard and an edited count, exit 1', () => {
    const out = path.join(tempDir(), 'out');
    expect(meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--shard-rows', '20']).code).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.shards.length).toBeGreaterThanOrEqual(4);
    const [a, b, c] = m.shards.map((s) => path.join(out, s.file));
    const flipped = fs.readFileSync(a);
    flipped[flipped.length >> 1] ^= 0x01;
    fs.writeFileSync(a, flipped);
    fs.truncateSync(b, 100);
    fs.rmSync(c);
    m.shards[3].rows += 1;
    fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(m));
    fs.writeFileSync(path.join(out, 'stray.arrow'), 'left over');
    const r = meap(['verify', out]);
    expect(r.code).toBe(1);
    for (const s of m.shards.slice(0, 4)) expect(r.stdout).toContain(s.file);
    expect(r.stdout).toContain('stray.arrow');
  });

  it('reruns with --overwrite even when the output directory sits among the inputs', () => {
    const dir = tempDir();
    fs.copyFileSync(slimpajama('chunk_0.jsonl'), path.join(dir, 'a.jsonl'));
    const args = ['prepare', dir, '--out', path.join(dir, 'out'), '--tokenizer', gpt2, '--progress', 'none', '--limit', '3'];
    expect(meap(args).code).toBe(0);
    const again = meap([...args, '--overwrite']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('1 file,');
  });

  it('treats a reader closing the pipe early (`| head`) as normal, not as a crash', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), 'demo', '--out', path.join(tempDir(), 'd'), '--progress', 'none'], { env: { ...process.env, MEAP_CACHE: tempDir() } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 0 on the demo output', () => {
    const out = path.join(tempDir(), 'demo');
    const d = meap(['demo', '--out', out, '--progress', 'none']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('23 documents');
    expect(meap(['verify', out]).code).toBe(0);
  });
});
