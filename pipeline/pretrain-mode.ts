/**
 * Pre-training: SlimPajama documents → `[BOS] ids [EOS]` packed into seqLen rows → masked rows.
 * Covered by test/e2e/golden-rows.test.ts (the pretrain rows, random and span masks, pinned) and
 * test/e2e/prepare.test.ts (packing, mask counts, --exclude-set, --text-field, --no-bos/--no-eos).
 */
import type { Location } from '../core/errors.ts';
import { setName, toDocument } from '../datasets/slimpajama.ts';
import type { InputFile } from '../datasets/types.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import type { PretrainConfig } from '../schemas/prepare.ts';
import { maskRow, type MaskSpec } from './mask.ts';
import { Packer, type PackedRow } from './pack.ts';
import { ShardWriter } from './shards.ts';
import type { TokenizerInfo } from './tokenize/load.ts';
import type { Counters, Mapped, Mode, Sink } from './unit.ts';

/** Filters, not errors: counted whatever --on-error says. */
const ALWAYS_SKIPPED = new Set(['emptyText', 'excludedSet']);

export function pretrainMode(cfg: PretrainConfig, tok: TokenizerInfo): Mode<null> {
  const excludeSets = new Set(cfg.excludeSets);
  return {
    map(value: unknown, where: Location): Mapped<null> {
      const doc = toDocument(value, where, { textField: cfg.textField, excludeSets, maxChars: cfg.maxDocChars });
      if (doc.kind === 'doc') return { kind: 'items', items: [{ item: null, texts: [doc.text] }] };
      if (ALWAYS_SKIPPED.has(doc.error.reason)) return { kind: 'items', items: [], counted: [doc.error.reason] };
      return { kind: 'bad', error: doc.error };
    },
    // Only where --exclude-set asks: the sets seen are what names a set that matched nothing.
    ...(excludeSets.size > 0 ? { setOf: setName } : {}),
    sink: (file, sha256, counters) => new PretrainSink(cfg, tok, file, sha256, counters),
  };
}

class PretrainSink implements Sink<null> {
  private readonly packer: Packer;
  private readonly writer: ShardWriter;
  private readonly spec: MaskSpec;
  private rowIndex = 0;
  /** Positions masking may touch, for the run's masked share (build-manifest.ts warns when it falls short). */
  private eligible = 0;

  constructor(
    private readonly cfg: PretrainConfig,
    tok: TokenizerInfo,
    file: InputFile,
    private readonly sha256: string,
    private readonly counters: Counters,
  ) {
    this.spec = { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength, maskTokenId: tok.specials.maskTokenId };
    this.packer = new Packer(cfg.seqLen, tok.specialIds, {
      bosId: cfg.bos ? tok.specials.bosId : null,
      eosId: cfg.eos ? tok.specials.eosId : null,
    });
    this.writer = new ShardWriter(cfg.out, file.rel, cfg.shardRows);
  }

  async add(_items: null[], ids: Int32Array[][]): Promise<void> {
    for (const [doc] of ids) {
      this.counters.tokens += doc.length;
      for (const row of this.packer.push(doc)) await this.emit(row);
    }
  }

  async finish(): Promise<{ shards: ShardEntry[]; counts: Record<string, number>; skipped: Record<string, number> }> {
    const last = this.packer.finish();
    if (last !== null) await this.emit(last);
    return { shards: await this.writer.finish(), counts: { eligible: this.eligible }, skipped: {} };
  }

  private async emit(row: PackedRow): Promise<void> {
    for (let i = 0; i < row.eligible.length; i++) this.eligible += row.eligible[i];
    const { inputIds, masked } = maskRow(row.tokens, row.eligible, this.spec, this.cfg.seed, this.sha256, this.rowIndex++);
    await this.writer.add({ input_ids: inputIds, labels: row.tokens, position_ids: row.positions, masked });
  }
}
