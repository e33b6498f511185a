/**
 * A Llama-style decoder in TensorFlow.js, the readable reference every faster engine is tested
 * against. Read top-down, as nanoGPT's model.py: RMSNorm, Attention (GQA, RoPE from the shard's
 * position_ids, causal and never across a document restart), Mlp (SwiGLU), Block, LlamaModel.
 * The hand-written gradients live in kernels.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { IGNORE_INDEX } from '../core/constants.ts';
import { configError } from '../core/errors.ts';
import type { ModelConfig } from '../schemas/train.ts';
import type { Batch } from './data.ts';
import { paramLayout } from './param-layout.ts';
import { ropeTables, type RopeTables } from './rope-tables.ts';
import { crossEntropySum, gatherRows, matmul } from './custom-grads.ts';

/** One trainable tensor, by the name checkpoints store it under. */
export interface Param {
  name: string;
  variable: tf.Variable;
  /** False for norm weights, which AdamW leaves undecayed. */
  decay: boolean;
}

/** Large enough to zero exp() in float32 yet finite, so no inf − inf turns into NaN. */
const MASKED = -1e9;

/** Per-batch constants that carry no gradient: the batch's shape, RoPE tables and the attention mask. */
interface BatchContext {
  rows: number;
  length: number;
  cos: tf.Tensor4D; // [rows, length, 1, headDim]
  sin: tf.Tensor4D;
  mask: tf.Tensor4D; // [rows, 1, length, length], 0 or MASKED
  /** Sees each layer's attention probabilities, [rows, heads, length, length], in layer order. */
  observe?: (probs: tf.Tensor4D) => void;
}

const linear = (x: tf.Tensor2D, w: tf.Variable) => matmul(x, w as tf.Tensor2D);

class RMSNorm {
  constructor(
    readonly weight: tf.Variable,
    private readonly eps: number,
  ) {}

  forward(x: tf.Tensor2D): tf.Tensor2D {
    const ms = tf.mean(tf.square(x), 1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.eps))), this.weight);
  }
}

class Attention {
  private readonly headDim: number;

  constructor(
    private readonly cfg: ModelConfig,
    readonly wq: tf.Variable,
    readonly wk: tf.Variable,
    readonly wv: tf.Variable,
    readonly wo: tf.Variable,
  ) {
    this.headDim = cfg.hidden / cfg.heads;
  }

  forward(x: tf.Tensor2D, ctx: BatchContext): tf.Tensor2D {
    const { rows: b, length: t } = ctx;
    const { heads, kvHeads, hidden } = this.cfg;
    const d = this.headDim;
    const rep = heads / kvHeads;
    // The softmax scale goes on q, the smallest tensor it can go on.
    const q = rope(tf.reshape(linear(x, this.wq), [b, t, heads, d]), ctx).mul(1 / Math.sqrt(d));
    const k = rope(tf.reshape(linear(x, this.wk), [b, t, kvHeads, d]), ctx);
    const v = tf.reshape(linear(x, this.wv), [b, t, kvHeads, d]);
    // Query head h reads KV head floor(h / rep) (HF repeat_kv). [b, heads, t, d] is laid out as
    // [b·kvHeads, rep·t, d], so the rep query heads of one KV head share a single matMul and K/V are
    // never repeated.
    const qg = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [b * kvHeads, rep * t, d]);
    const kT = tf.reshape(tf.transpose(k, [0, 2, 3, 1]), [b * kvHeads, d, t]);
    const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [b * kvHeads, t, d]);
    const scores = tf.add(tf.reshape(matmul(qg as tf.Tensor3D, kT as tf.Tensor3D), [b, heads, t, t]), ctx.mask);
    const softmax = tf.softmax(scores) as tf.Tensor4D;
    ctx.observe?.(softmax);
    const probs = tf.reshape(softmax, [b * kvHeads, rep * t, t]);
    const out = tf.reshape(matmul(probs as tf.Tensor3D, vg as tf.Tensor3D), [b, heads, t, d]);
    const merged = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b * t, hidden]);
    return linear(merged as tf.Tensor2D, this.wo);
  }
}

/** RoPE with HF Llama's rotate-half pairing (i with i + d/2), on [b, t, heads, d]. */
function rope(x: tf.Tensor4D, ctx: BatchContext): tf.Tensor4D {
  const d = x.shape[3];
  const [x1, x2] = tf.split(x, [d / 2, d / 2], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, ctx.cos), tf.mul(rotated, ctx.sin));
}

/** SwiGLU: down(silu(gate(x)) · up(x)). */
class Mlp {
  constructor(
    readonly wGate: tf.Variable,
    readonly wUp: tf.Variable,
    readonly wDown: tf.Variable,
  ) {}

  forward(x: tf.Tensor2D): tf.Tensor2D {
    const gate = linear(x, this.wGate);
    const up = linear(x, this.wUp);
    const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
    return linear(act as tf.Tensor2D, this.wDown);
  }
}

/** Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x)). */
class Block {
  constructor(
    readonly attnNorm: RMSNorm,
    readonly attn: Attention,
    readonly mlpNorm: RMSNorm,
    readonly mlp: Mlp,
  ) {}

  forward(x: tf.Tensor2D, ctx: BatchContext): tf.Tensor2D {
    const h: tf.Tensor2D = tf.add(x, this.attn.forward(this.attnNorm.forward(x), ctx));
    return tf.add(h, this.mlp.forward(this.mlpNorm.forward(h)));
  }
}

let instances = 0;

/**
 * What lossSum sums of each layer's attention for the paper's Table 10, over every (query, key, head)
 * attention may join (causal, one document): the weight given to keys holding [MASK] and to the
 * others, the squared weights (for their variance), and how many such triples there are by the key's
 * kind.
 */
export const ATTENTION_SUMS = ['toMask', 'toOther', 'squares', 'maskPairs', 'otherPairs'] as const;

/** An observer for BatchContext that keeps, per layer, the ATTENTION_SUMS of its probabilities in `into`. */
function attentionObserver(batch: Batch, mask: tf.Tensor4D, maskId: number, heads: number, into: tf.Tensor1D[]): (p: tf.Tensor4D) => void {
  const { rows: b, length: t } = batch;
  const allowed = tf.equal(mask, 0).toFloat(); // [b, 1, t, t]
  const isMask = tf.equal(tf.tensor2d(batch.inputIds, [b, t], 'int32'), maskId).toFloat().reshape([b, 1, 1, t]);
  const toMask = tf.mul(allowed, isMask);
  const toOther = tf.sub(allowed, toMask);
  const pairs = tf.stack([tf.sum(toMask).mul(heads), tf.sum(toOther).mul(heads)]);
  return (p) => {
    into.push(tf.keep(tf.concat([tf.stack([tf.sum(tf.mul(p, toMask)), tf.sum(tf.mul(p, toOther)), tf.sum(tf.mul(tf.square(p), allowed))]), pairs]) as tf.Tensor1D));
  };
}

export class LlamaModel {
  readonly cfg: ModelConfig;
  readonly params: Param[] = [];
  private readonly embed: tf.Variable;
  private readonly blocks: Block[] = [];
  private readonly finalNorm: RMSNorm;
  private readonly lmHead: tf.Variable;
  private readonly headDim: number;
  /** RoPE's tables up to the longest position seen so far. */
  private rope: RopeTables = { cos: new Float32Array(0), sin: new Float32Array(0) };

  /** Parameters are created in a fixed order, each from its own seed, so one seed gives one model anywhere. */
  constructor(cfg: ModelConfig, seed: number) {
    this.cfg = cfg;
    this.headDim = cfg.hidden / cfg.heads;

    // tfjs keeps a global registry of variable names, so two models in one process need distinct ones.
    const prefix = `meap${instances++}/`;
    // One seed per parameter (by its place in the layout), so adding or reordering parameters never
    // shifts the others' values.
    const v = new Map<string, tf.Variable>();
    paramLayout(cfg).forEach((spec, index) => {
      const init = spec.kind === 'norm' ? tf.ones(spec.shape, 'float32') : tf.randomNormal(spec.shape, 0, 0.02, 'float32', paramSeed(seed, index));
      const variable = tf.variable(init, true, prefix + spec.name);
      init.dispose();
      this.params.push({ name: spec.name, variable, decay: spec.kind === 'matrix' });
      v.set(spec.name, variable);
    });
    const at = (name: string) => v.get(name)!;
    const norm = (name: string) => new RMSNorm(at(name), cfg.normEps);
    this.embed = at('embed');
    for (let l = 0; l < cfg.layers; l++) {
      const p = (s: string) => at(`layers.${l}.${s}`);
      const attn = new Attention(cfg, p('wq'), p('wk'), p('wv'), p('wo'));
      const mlp = new Mlp(p('w_gate'), p('w_up'), p('w_down'));
      this.blocks.push(new Block(norm(`layers.${l}.attn_norm`), attn, norm(`layers.${l}.mlp_norm`), mlp));
    }
    this.finalNorm = norm('final_norm');
    this.lmHead = at('lm_head');
  }

  logits(batch: Batch): tf.Tensor3D {
    checkBatch(batch, this.cfg.vocabRows);
    return tf.tidy(() => {
      const h = this.trunk(batch, this.context(batch));
      return linear(h, this.lmHead).reshape([batch.rows, batch.length, this.cfg.vocabRows]);
    });
  }

  /**
   * The logits at flat positions of the batch only, [positions, vocabRows]: only they go through the
   * LM head, which dominates a small model's forward pass (and a long prompt's full logits would not
   * fit in memory).
   */
  logitsAt(batch: Batch, positions: Int32Array): tf.Tensor2D {
    checkBatch(batch, this.cfg.vocabRows);
    return tf.tidy(() => this.headAt(this.trunk(batch, this.context(batch)), positions));
  }

  /**
   * The summed cross-entropy over the batch's scored targets, and how many there are. With `maskId`,
   * from the same forward pass, `attention`: each layer's ATTENTION_SUMS, [layers, 5].
   */
  lossSum(batch: Batch, maskId?: number): { sum: tf.Scalar; count: number; attention?: tf.Tensor2D } {
    checkBatch(batch, this.cfg.vocabRows);
    const { positions, targets } = shiftedTargets(batch);
    if (targets.length === 0 && maskId === undefined) return { sum: tf.scalar(0), count: 0 };
    const layers: tf.Tensor1D[] = [];
    const sum = tf.tidy(() => {
      const ctx = this.context(batch);
      if (maskId !== undefined) ctx.observe = attentionObserver(batch, ctx.mask, maskId, this.cfg.heads, layers);
      const h = this.trunk(batch, ctx);
      return targets.length === 0 ? tf.scalar(0) : crossEntropySum(this.headAt(h, positions), targets);
    });
    if (maskId === undefined) return { sum, count: targets.length };
    const attention = tf.stack(layers) as tf.Tensor2D;
    layers.forEach((l) => l.dispose());
    return { sum, count: targets.length, attention };
  }

  /** Saved weights, by parameter name; a checkpoint of another shape is refused. */
  loadWeights(saved: readonly { name: string; shape: number[]; data: Float32Array }[]): void {
    const byName = new Map(saved.map((p) => [p.name, p]));
    for (const p of this.params) {
      const s = byName.get(p.name);
      if (s === undefined || s.shape.join('x') !== p.variable.shape.join('x')) {
        throw configError(`the checkpoint has no parameter ${p.name} of shape [${p.variable.shape}]`);
      }
      tf.tidy(() => p.variable.assign(tf.tensor(s.data, s.shape, 'float32')));
    }
  }

  dispose(): void {
    for (const p of this.params) p.variable.dispose();
  }

  /** The LM head at flat positions of the hidden states only: the head dominates a small model's forward pass. */
  private headAt(h: tf.Tensor2D, positions: Int32Array): tf.Tensor2D {
    return linear(gatherRows(h, tf.tensor1d(positions, 'int32')), this.lmHead);
  }

  /** Final-normed hidden states, [rows·length, hidden]. */
  private trunk(batch: Batch, ctx: BatchContext): tf.Tensor2D {
    let x = gatherRows(this.embed as tf.Tensor2D, tf.tensor1d(batch.inputIds, 'int32'));
    for (const block of this.blocks) x = block.forward(x, ctx);
    return this.finalNorm.forward(x);
  }

  private context(batch: Batch): BatchContext {
    const { rows: b, length: t } = batch;
    const d = this.headDim;
    const half = d / 2;
    const cos = new Float32Array(b * t * d);
    const sin = new Float32Array(b * t * d);
    let maxPos = 0;
    for (let i = 0; i < b * t; i++) maxPos = Math.max(maxPos, batch.positionIds[i]);
    // Built once and grown only when a batch reaches past it: every step would otherwise redo the trig.
    if (this.rope.cos.length <= maxPos * half) this.rope = ropeTables(this.cfg, maxPos + 1);
    const table = this.rope;
    for (let i = 0; i < b * t; i++) {
      const at = batch.positionIds[i] * half;
      for (let j = 0; j < half; j++) {
        cos[i * d + j] = cos[i * d + j + half] = table.cos[at + j];
        sin[i * d + j] = sin[i * d + j + half] = table.sin[at + j];
      }
    }
    // A document starts wherever positionIds is 0; attention stays inside one document and is causal.
    const mask = new Float32Array(b * t * t);
    const seg = new Int32Array(t);
    for (let r = 0; r < b; r++) {
      let count = 0;
      for (let i = 0; i < t; i++) {
        if (batch.positionIds[r * t + i] === 0) count++;
        seg[i] = count;
      }
      const base = r * t * t;
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < t; j++) {
          if (j > i || seg[j] !== seg[i]) mask[base + i * t + j] = MASKED;
        }
      }
    }
    return {
      rows: b,
      length: t,
      cos: tf.tensor4d(cos, [b, t, 1, d]),
      sin: tf.tensor4d(sin, [b, t, 1, d]),
      mask: tf.tensor4d(mask, [b, 1, t, t]),
    };
  }
}

/** Flat positions whose next label is scored, and those labels (HF shift: position t predicts labels[t+1]). */
export function shiftedTargets(batch: Batch): { positions: Int32Array; targets: Int32Array } {
  const { rows, length, labels } = batch;
  const positions: number[] = [];
  const targets: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t + 1 < length; t++) {
      const y = labels[r * length + t + 1];
      if (y !== IGNORE_INDEX) {
        positions.push(r * length + t);
        targets.push(y);
      }
    }
  }
  return { positions: Int32Array.from(positions), targets: Int32Array.from(targets) };
}

function checkBatch(batch: Batch, vocabRows: number): void {
  const n = batch.rows * batch.length;
  if (batch.inputIds.length !== n || batch.labels.length !== n || batch.positionIds.length !== n) {
    throw new Error(`batch arrays must hold rows × length = ${n} values`);
  }
  for (let i = 0; i < n; i++) {
    const id = batch.inputIds[i];
    const y = batch.labels[i];
    // Out-of-range ids would read garbage (gather) or be dropped silently (scatterND) rather than fail.
    if (id < 0 || id >= vocabRows) throw new Error(`input id ${id} at ${i} is outside the embedding's ${vocabRows} rows`);
    if (y !== IGNORE_INDEX && (y < 0 || y >= vocabRows)) throw new Error(`label ${y} at ${i} is outside the embedding's ${vocabRows} rows`);
  }
}

/** Mixes the run seed and the parameter's index into a seed for tf.randomNormal (splitmix-style). */
function paramSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
