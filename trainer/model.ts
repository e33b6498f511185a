import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../schemas/train.ts';

import type { Batch } from './data.ts';

export type { Batch };

export interface Param {
  name: string;
  variable: tf.Variable;
  /** False for norm weights, which AdamW leaves undecayed. */
  decay: boolean;
}

const IGNORE = -100;
/** Large enough to zero exp() in float32 yet finite, so no inf − inf turns into NaN. */
const MASKED = -1e9;

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** tf.customGrad with the inputs as an array and the save function passed separately. */
function custom(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc },
  inputs: tf.Tensor[],
): tf.Tensor {
  const g = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc),
  );
  return g(...inputs);
}

/**
 * Rows of `x` [n, w] picked by `idx`. tf.gather's gradient needs UnsortedSegmentSum, which the wasm
 * backend lacks; scatterND sums repeated indices on every backend.
 */
function gatherRows(x: tf.Tensor2D, idx: tf.Tensor1D): tf.Tensor2D {
  const shape = x.shape;
  return custom(([table], save) => {
    // Tensors a gradFunc closes over are disposed by the caller's tidy before backprop; save() keeps them.
    save([idx]);
    return {
      value: tf.gather(table, idx),
      gradFunc: (dy, saved) => tf.scatterND(tf.expandDims(saved[0], 1), dy, shape),
    };
  }, [x]) as tf.Tensor2D;
}

/**
 * a [.., n, k] @ b [.., k, m] (2-D, or 3-D batched). tf.matMul's own gradient uses transposeA/transposeB
 * matMuls, which measured ~10× slower on wasm than an explicit transpose followed by a plain matMul.
 */
function matmul<T extends tf.Tensor2D | tf.Tensor3D>(x: T, w: T): T {
  const perm = x.rank === 2 ? [1, 0] : [0, 2, 1];
  return custom(([a, b], save) => {
    save([a, b]);
    return {
      value: tf.matMul(a as T, b as T),
      gradFunc: (dy, [sa, sb]) => [
        tf.matMul(dy as T, tf.transpose(sb, perm) as T),
        tf.matMul(tf.transpose(sa, perm) as T, dy as T),
      ],
    };
  }, [x, w]) as T;
}

function linear(x: tf.Tensor2D, w: tf.Tensor | tf.Variable): tf.Tensor2D {
  return matmul(x, w as tf.Tensor2D);
}

/**
 * Summed cross-entropy of `logits` [n, V] against `targets` [n] without materialising a one-hot in the
 * forward pass: logSumExp minus the picked logit; the backward is softmax minus 1 at the target.
 */
function crossEntropySum(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const n = targets.length;
  const pairs = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    pairs[2 * i] = i;
    pairs[2 * i + 1] = targets[i];
  }
  const idx = tf.tensor2d(pairs, [n, 2], 'int32');
  const out = custom(([z], save) => {
    const lse = tf.logSumExp(z, 1, true);
    save([z, lse, idx]);
    const picked = tf.gatherND(z, idx);
    return {
      value: tf.sub(tf.sum(lse), tf.sum(picked)),
      gradFunc: (dy, [sz, slse, sidx]) => {
        const g = dy.dataSync()[0];
        // Each pass over [n, V] costs as much as the LM head matMul, so a positive dy (the usual case)
        // is folded into the exponent instead of multiplied in afterwards.
        const scaledSoft = g > 0 ? tf.exp(tf.sub(sz, tf.sub(slse, Math.log(g)))) : tf.mul(tf.exp(tf.sub(sz, slse)), g);
        const hit = tf.scatterND(sidx, tf.fill([n], g, 'float32'), sz.shape);
        return tf.sub(scaledSoft, hit);
      },
    };
  }, [logits]) as tf.Scalar;
  idx.dispose();
  return out;
}

interface Layer {
  attnNorm: tf.Variable;
  wq: tf.Variable;
  wk: tf.Variable;
  wv: tf.Variable;
  wo: tf.Variable;
  mlpNorm: tf.Variable;
  wGate: tf.Variable;
  wUp: tf.Variable;
  wDown: tf.Variable;
}

/** Per-batch constants that carry no gradient: RoPE tables and the attention mask. */
interface Context {
  cos: tf.Tensor4D; // [rows, length, 1, headDim]
  sin: tf.Tensor4D;
  mask: tf.Tensor4D; // [rows, 1, length, length], 0 or MASKED
}

let instances = 0;

export class LlamaModel {
  readonly cfg: ModelConfig;
  readonly params: Param[] = [];
  private readonly embed: tf.Variable;
  private readonly layers: Layer[] = [];
  private readonly finalNorm: tf.Variable;
  private readonly lmHead: tf.Variable;
  private readonly headDim: number;
  private readonly invFreq: Float64Array;

  constructor(cfg: ModelConfig, seed: number) {
    this.cfg = cfg;
    this.headDim = cfg.hidden / cfg.heads;
    const half = this.headDim / 2;
    this.invFreq = new Float64Array(half);
    for (let i = 0; i < half; i++) this.invFreq[i] = 1 / Math.pow(cfg.ropeBase, (2 * i) / this.headDim);

    // tfjs keeps a global registry of variable names, so two models in one process need distinct ones.
    const prefix = `meap${instances++}/`;
    let index = 0;
    const matrix = (name: string, shape: [number, number]): tf.Variable => {
      // One seed per parameter, so adding or reordering parameters never shifts the others' values.
      const s = paramSeed(seed, index++);
      const init = tf.randomNormal(shape, 0, 0.02, 'float32', s);
      const v = tf.variable(init, true, prefix + name);
      init.dispose();
      this.params.push({ name, variable: v, decay: true });
      return v;
    };
    const norm = (name: string): tf.Variable => {
      index++;
      const init = tf.ones([cfg.hidden], 'float32');
      const v = tf.variable(init, true, prefix + name);
      init.dispose();
      this.params.push({ name, variable: v, decay: false });
      return v;
    };

    const kvDim = cfg.kvHeads * this.headDim;
    this.embed = matrix('embed', [cfg.vocabRows, cfg.hidden]);
    for (let l = 0; l < cfg.layers; l++) {
      const p = `layers.${l}.`;
      this.layers.push({
        attnNorm: norm(`${p}attn_norm`),
        wq: matrix(`${p}wq`, [cfg.hidden, cfg.hidden]),
        wk: matrix(`${p}wk`, [cfg.hidden, kvDim]),
        wv: matrix(`${p}wv`, [cfg.hidden, kvDim]),
        wo: matrix(`${p}wo`, [cfg.hidden, cfg.hidden]),
        mlpNorm: norm(`${p}mlp_norm`),
        wGate: matrix(`${p}w_gate`, [cfg.hidden, cfg.intermediate]),
        wUp: matrix(`${p}w_up`, [cfg.hidden, cfg.intermediate]),
        wDown: matrix(`${p}w_down`, [cfg.intermediate, cfg.hidden]),
      });
    }
    this.finalNorm = norm('final_norm');
    this.lmHead = matrix('lm_head', [cfg.hidden, cfg.vocabRows]);
  }

  logits(batch: Batch): tf.Tensor3D {
    checkBatch(batch, this.cfg.vocabRows);
    return tf.tidy(() => {
      const ctx = this.context(batch);
      const h = this.trunk(batch, ctx);
      return linear(h, this.lmHead).reshape([batch.rows, batch.length, this.cfg.vocabRows]);
    });
  }

  lossSum(batch: Batch): { sum: tf.Scalar; count: number } {
    checkBatch(batch, this.cfg.vocabRows);
    const { positions, targets } = shiftedTargets(batch);
    if (targets.length === 0) return { sum: tf.scalar(0), count: 0 };
    const sum = tf.tidy(() => {
      const ctx = this.context(batch);
      const h = this.trunk(batch, ctx);
      // Only scored positions go through the LM head, which dominates the step for small models.
      const picked = gatherRows(h, tf.tensor1d(positions, 'int32'));
      return crossEntropySum(linear(picked, this.lmHead), targets);
    });
    return { sum, count: targets.length };
  }

  dispose(): void {
    for (const p of this.params) p.variable.dispose();
  }

  /** Final-normed hidden states, [rows·length, hidden]. */
  private trunk(batch: Batch, ctx: Context): tf.Tensor2D {
    const ids = tf.tensor1d(batch.inputIds, 'int32');
    let x = gatherRows(this.embed as tf.Tensor2D, ids);
    for (const layer of this.layers) {
      x = tf.add(x, this.attention(rmsNorm(x, layer.attnNorm, this.cfg.normEps), layer, batch, ctx));
      x = tf.add(x, this.mlp(rmsNorm(x, layer.mlpNorm, this.cfg.normEps), layer));
    }
    return rmsNorm(x, this.finalNorm, this.cfg.normEps);
  }

  private attention(x: tf.Tensor2D, layer: Layer, batch: Batch, ctx: Context): tf.Tensor2D {
    const { rows: b, length: t } = batch;
    const { heads, kvHeads, hidden } = this.cfg;
    const d = this.headDim;
    const rep = heads / kvHeads;
    // The softmax scale goes on q, the smallest tensor it can go on.
    const q = rope(tf.reshape(linear(x, layer.wq), [b, t, heads, d]), ctx).mul(1 / Math.sqrt(d));
    const k = rope(tf.reshape(linear(x, layer.wk), [b, t, kvHeads, d]), ctx);
    const v = tf.reshape(linear(x, layer.wv), [b, t, kvHeads, d]);
    // Query head h reads KV head floor(h / rep) (HF repeat_kv). [b, heads, t, d] is laid out as
    // [b·kvHeads, rep·t, d], so the rep query heads of one KV head share a single matMul and K/V are
    // never repeated.
    const qg = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [b * kvHeads, rep * t, d]);
    const kT = tf.reshape(tf.transpose(k, [0, 2, 3, 1]), [b * kvHeads, d, t]);
    const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [b * kvHeads, t, d]);
    const scores = tf.add(tf.reshape(matmul(qg as tf.Tensor3D, kT as tf.Tensor3D), [b, heads, t, t]), ctx.mask);
    const probs = tf.reshape(tf.softmax(scores), [b * kvHeads, rep * t, t]);
    const out = tf.reshape(matmul(probs as tf.Tensor3D, vg as tf.Tensor3D), [b, heads, t, d]);
    const merged = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b * t, hidden]);
    return linear(merged as tf.Tensor2D, layer.wo);
  }

  private mlp(x: tf.Tensor2D, layer: Layer): tf.Tensor2D {
    const gate = linear(x, layer.wGate);
    const up = linear(x, layer.wUp);
    const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
    return linear(act as tf.Tensor2D, layer.wDown);
  }

  private context(batch: Batch): Context {
    const { rows: b, length: t } = batch;
    const d = this.headDim;
    const half = d / 2;
    const cos = new Float32Array(b * t * d);
    const sin = new Float32Array(b * t * d);
    for (let i = 0; i < b * t; i++) {
      const pos = batch.positionIds[i];
      for (let j = 0; j < half; j++) {
        // Angles in float32 as HF does (inv_freq and position product in fp32), then cos/sin.
        const a = Math.fround(Math.fround(pos) * Math.fround(this.invFreq[j]));
        const c = Math.cos(a);
        const s = Math.sin(a);
        cos[i * d + j] = c;
        cos[i * d + j + half] = c;
        sin[i * d + j] = s;
        sin[i * d + j + half] = s;
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
      cos: tf.tensor4d(cos, [b, t, 1, d]),
      sin: tf.tensor4d(sin, [b, t, 1, d]),
      mask: tf.tensor4d(mask, [b, 1, t, t]),
    };
  }
}

/** RoPE with HF Llama's rotate-half pairing (i with i + d/2), on [b, t, heads, d]. */
function rope(x: tf.Tensor4D, ctx: Context): tf.Tensor4D {
  const d = x.shape[3];
  const [x1, x2] = tf.split(x, [d / 2, d / 2], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, ctx.cos), tf.mul(rotated, ctx.sin));
}

function rmsNorm(x: tf.Tensor2D, weight: tf.Variable, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), 1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), weight);
}

/** Flat positions whose next label is scored, and those labels (HF shift: position t predicts labels[t+1]). */
function shiftedTargets(batch: Batch): { positions: Int32Array; targets: Int32Array } {
  const { rows, length, labels } = batch;
  const positions: number[] = [];
  const targets: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t + 1 < length; t++) {
      const y = labels[r * length + t + 1];
      if (y !== IGNORE) {
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
    if (y !== IGNORE && (y < 0 || y >= vocabRows)) throw new Error(`label ${y} at ${i} is outside the embedding's ${vocabRows} rows`);
  }
}

/** Mixes the run seed and the parameter's index into a seed for tf.randomNormal (splitmix-style). */
function paramSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** One micro-batch: the loss sum and its gradients, aligned with model.params. The caller disposes the grads. */
export function lossAndGrads(model: LlamaModel, batch: Batch): { lossSum: number; count: number; grads: tf.Tensor[] } {
  const vars = model.params.map((p) => p.variable);
  // With no scored target the loss is a constant, which tf.variableGrads rejects; its gradient is zero.
  if (shiftedTargets(batch).targets.length === 0) {
    return { lossSum: 0, count: 0, grads: vars.map((v) => tf.zerosLike(v)) };
  }
  let count = 0;
  const { value, grads } = tf.variableGrads(() => {
    const r = model.lossSum(batch);
    count = r.count;
    return r.sum;
  }, vars);
  const lossSum = value.dataSync()[0];
  value.dispose();
  return { lossSum, count, grads: vars.map((v) => grads[v.name]) };
}
