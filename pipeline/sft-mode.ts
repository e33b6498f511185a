/**
 * SFT: Alpaca / ShareGPT records → prompt template → examples → MEAP duplicate-and-mask rows.
 * Each example's mask stream is keyed by its index among the file's examples.
 *
 * Covered by test/e2e/golden-rows.test.ts (the SFT rows, concat and separate-packed, pinned) and
 * test/e2e/prepare-sft.test.ts (threshold, mask counts, layouts, truncation, packing, skip counts).
 */
import type { Location } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import { toExamples } from '../datasets/sft-records.ts';
import type { InputFile } from '../datasets/types.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import type { SftConfig } from '../schemas/prepare.ts';
import { ShardWriter } from './shards.ts';
import { buildExample, type SftSequence, type SftSpec } from './sft.ts';
import { SftPacker } from './sft-pack.ts';
import type { CompiledTemplate, PromptPiece } from './template.ts';
import type { TokenizerInfo } from './tokenize/load.ts';
import type { Counters, Mapped, Mode, Sink } from './unit.ts';

export function sftMode(cfg: SftConfig, tok: TokenizerInfo, template: CompiledTemplate): Mode<PromptPiece[]> {
  const spec: SftSpec = {
    seqLen: cfg.seqLen,
    ratio: cfg.maskRatio,
    minAnswerTokens: cfg.minAnswerTokens,
    layout: cfg.sftLayout,
    maskTokenId: tok.specials.maskTokenId,
    bosId: cfg.bos ? tok.specials.bosId : null,
    eosId: cfg.eos ? tok.specials.eosId : null,
  };
  return {
    map(value: unknown, where: Location): Mapped<PromptPiece[]> {
      const r = toExamples(value, where, { maxChars: cfg.maxDocChars });
      if (r.kind === 'skip') return { kind: 'bad', error: r.error };
      // The prompt's text pieces and the answer are tokenized separately, as the paper's code does.
      const items = r.examples.map((ex) => {
        const pieces = template.render(ex);
        const texts = pieces.flatMap((p) => ('text' in p ? [p.text] : []));
        return { item: pieces, texts: [...texts, ex.answer] };
      });
      return { kind: 'items', items, counted: Array<string>(r.emptyAnswers).fill('emptyAnswer') };
    },
    sink: (file, sha256, counters) => new SftSink(cfg, spec, file, sha256, counters),
  };
}

class SftSink implements Sink<PromptPiece[]> {
  private readonly writer: ShardWriter;
  private readonly packer: SftPacker | null;
  private example = 0;
  /** `eligible`: the duplicated answers' tokens, for the run's masked share (merge.ts warns when it falls short). */
  private readonly counts = { duplicated: 0, ntpOnly: 0, truncated: 0, layoutFallbacks: 0, eligible: 0 };
  private readonly skipped: Record<string, number> = {};

  constructor(
    private readonly cfg: SftConfig,
    private readonly spec: SftSpec,
    file: InputFile,
    private readonly sha256: string,
    private readonly counters: Counters,
  ) {
    this.writer = new ShardWriter(cfg.out, file.rel, cfg.shardRows);
    this.packer = cfg.pack ? new SftPacker(cfg.seqLen) : null;
  }

  async add(items: PromptPiece[][], ids: Int32Array[][]): Promise<void> {
    for (let i = 0; i < items.length; i++) {
      const index = this.example++;
      const texts = ids[i];
      let t = 0;
      const prompt: number[] = [];
      for (const piece of items[i]) {
        if ('text' in piece) for (const id of texts[t++]) prompt.push(id);
        else prompt.push(piece.special);
      }
      const answer = texts[t];
      const out = buildExample(prompt, answer, this.spec, () => Rng.forRow(this.cfg.seed, this.sha256, index));
      if (out.kind === 'skip') {
        this.skipped[out.reason] = (this.skipped[out.reason] ?? 0) + 1;
        continue;
      }
      if (out.duplicated) this.counts.duplicated++;
      else this.counts.ntpOnly++;
      if (out.truncated) this.counts.truncated++;
      if (out.layoutFallback) this.counts.layoutFallbacks++;
      this.counts.eligible += out.eligible;
      for (const seq of out.sequences) this.counters.tokens += seq.inputIds.length;
      for (const row of this.packer === null ? out.sequences : this.packer.push(out.sequences)) await this.write(row);
    }
  }

  async finish(): Promise<{ shards: ShardEntry[]; counts: Record<string, number>; skipped: Record<string, number> }> {
    for (const row of this.packer?.finish() ?? []) await this.write(row);
    return { shards: await this.writer.finish(), counts: { ...this.counts }, skipped: { ...this.skipped } };
  }

  private write(seq: SftSequence): Promise<void> {
    return this.writer.add({ input_ids: seq.inputIds, labels: seq.labels, position_ids: seq.positions, masked: seq.masked });
  }
}
