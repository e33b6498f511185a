/**
 * The LM head's cross-entropy, fused and chunked over the vocabulary so that the [n, V] logits never
 * exist at once: the engine computes one chunk's logits [n, chunk] (row stride `chunk`) into a scratch
 * buffer with its own matmul, and these kernels fold it into running per-row statistics.
 *
 * Forward, per step:  ceInit; for each chunk { matmul; ceChunkStats }; ceFinish
 *   - max[i], sum[i]: an online log-sum-exp (sum is Σ exp(x − max), rescaled whenever max grows),
 *   - picked[i]: the target's logit, written by the one chunk that holds the target,
 *   - lse[i] = max[i] + log(sum[i]); loss[slot] = Σ_i lse[i] − picked[i] (the summed loss, as
 *     trainer/custom-grads.ts's crossEntropySum).
 * A negative target (−1, −100) marks an unscored row: it adds exactly 0 to the loss and gets a zero
 * gradient row, so the engine may pass every position of a batch with its padding and unscored
 * tokens in place. Its lse is 0, not a log-sum-exp.
 * Backward, per chunk: matmul again; ceChunkGrad turns the logits in place into softmax − onehot, the
 * gradient of the summed loss, which the engine then pushes through the head's two matmuls.
 *
 * The row-wise kernels give each row one workgroup of 256 invocations reading consecutive columns
 * (coalesced), reduced with the prelude's fixed trees, so results are deterministic; rows lie on the
 * 2-D grid, so no n needs more than 65535 workgroups in a dimension.
 *
 * Covered by test/trainer/webgpu/kernels/loss.test.ts.
 */
import { type Buf, type Call, type Context, call, kernel, read, write } from '../kernel.ts';
import { ENTRY, LOW, perElement, perRow, ROW_ENTRY, WG, workgroupMax, workgroupSum } from './prelude.ts';

// The bindings are rmax and rsum, not max and sum: those name WGSL's builtins.
const INIT = kernel('ceInit', {
  bindings: { rmax: write(), rsum: write(), picked: write() },
  params: { n: 'u32' },
  body: /* wgsl */ `${LOW}
${ENTRY}
  if (e >= p.n) { return; }
  rmax[e] = LOW;
  rsum[e] = 0.0;
  picked[e] = 0.0;
}`,
});

const STATS = kernel('ceChunkStats', {
  bindings: { logits: read(), targets: read('array<i32>'), rmax: write(), rsum: write(), picked: write() },
  params: { rows: 'u32', chunk: 'u32', vocabStart: 'i32' },
  body: /* wgsl */ `${LOW}
${workgroupMax(WG)}
${workgroupSum(WG)}
${ROW_ENTRY}
  let base = row * p.chunk;
  // One pass per invocation: one exp per element, plus a rescale only when its max grows.
  var m = LOW;
  var s = 0.0;
  for (var j = lid; j < p.chunk; j += ${WG}u) {
    let x = logits[base + j];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s = s + exp(x - m);
    }
  }
  // Each invocation's sum rescaled once, to the chunk's max (an idle one's 0 stays 0).
  let cm = workgroupMax(lid, m);
  let cs = workgroupSum(lid, s * exp(m - cm));
  if (lid == 0u) {
    let label = targets[row];
    if (label < 0) {
      // An unscored row: lse = 0 + log(1) = picked = 0, so it adds exactly 0 to the loss.
      rmax[row] = 0.0;
      rsum[row] = 1.0;
      picked[row] = 0.0;
    } else {
      let gm = rmax[row];
      let mm = max(gm, cm);
      rsum[row] = rsum[row] * exp(gm - mm) + cs * exp(cm - mm);
      rmax[row] = mm;
      let t = label - p.vocabStart;
      if (t >= 0 && u32(t) < p.chunk) {
        picked[row] = logits[base + u32(t)];
      }
    }
  }
}`,
});

// One workgroup: n is at most a few thousand positions.
const FINISH = kernel('ceFinish', {
  bindings: { rmax: read(), rsum: read(), picked: read(), lse: write(), loss: write() },
  params: { n: 'u32', slot: 'u32' },
  body: /* wgsl */ `${workgroupSum(WG)}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += ${WG}u) {
    let l = rmax[i] + log(rsum[i]);
    lse[i] = l;
    s = s + (l - picked[i]);
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    loss[p.slot] = total;
  }
}`,
});

const GRAD = kernel('ceChunkGrad', {
  bindings: { logits: write(), targets: read('array<i32>'), lse: read() },
  params: { rows: 'u32', chunk: 'u32', vocabStart: 'i32' },
  body: /* wgsl */ `${ROW_ENTRY}
  let base = row * p.chunk;
  let l = lse[row];
  let label = targets[row];
  let t = label - p.vocabStart;
  // An unscored row has no loss, so no gradient (and its lse of 0 must not reach an exp).
  let scored = label >= 0;
  for (var j = lid; j < p.chunk; j += ${WG}u) {
    var g = 0.0;
    if (scored) {
      g = exp(logits[base + j] - l);
      if (i32(j) == t) {
        g = g - 1.0;
      }
    }
    logits[base + j] = g;
  }
}`,
});

function checkRows(label: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${label}: n must be a non-negative integer, got ${n}`);
}

function checkChunk(label: string, s: { n: number; chunk: number; vocabStart: number }): void {
  checkRows(label, s.n);
  if (!Number.isInteger(s.chunk) || s.chunk < 1) throw new RangeError(`${label}: chunk must be a positive integer, got ${s.chunk}`);
  if (!Number.isInteger(s.vocabStart) || s.vocabStart < 0) throw new RangeError(`${label}: vocabStart must be a non-negative integer, got ${s.vocabStart}`);
  // Indices are u32 in the shader.
  if (s.n * s.chunk > 2 ** 32 - 1) throw new RangeError(`${label}: ${s.n}×${s.chunk} logits overflow a u32 index`);
}

/** max = LOW (−3e38, finite), sum = 0, picked = 0 for the n rows: the state before the first chunk. */
export function ceInit(ctx: Context, s: { n: number }, b: { max: Buf; sum: Buf; picked: Buf }): Call {
  checkRows('ceInit', s.n);
  return call(INIT, { rmax: b.max, rsum: b.sum, picked: b.picked }, { n: s.n }, perElement(ctx, s.n), { flops: 0, bytes: 12 * s.n });
}

/**
 * Folds one chunk of logits [n, chunk] (row stride `chunk`, columns vocabStart … vocabStart+chunk−1)
 * into max/sum, and sets picked[i] for the rows whose target lies in the chunk. targets: i32 [n],
 * negative for an unscored row (whose max, sum and picked become 0, 1 and 0).
 */
export function ceChunkStats(
  ctx: Context,
  s: { n: number; chunk: number; vocabStart: number },
  b: { logits: Buf; targets: Buf; max: Buf; sum: Buf; picked: Buf },
): Call {
  checkChunk('ceChunkStats', s);
  // Bytes: a scored row reads its logits and target and reads and writes max and sum (an unscored
  // one, the exception, only writes them).
  return call(
    STATS,
    { logits: b.logits, targets: b.targets, rmax: b.max, rsum: b.sum, picked: b.picked },
    { rows: s.n, chunk: s.chunk, vocabStart: s.vocabStart },
    perRow(ctx, s.n),
    { flops: 0, bytes: 4 * s.n * s.chunk + 20 * s.n },
  );
}

/**
 * lse[i] = max[i] + log(sum[i]), and loss[slot] = Σ_i lse[i] − picked[i], summed by one workgroup in
 * a fixed order (n is at most a few thousand scored positions, so one workgroup is enough, and the
 * context, which every kernel function takes, goes unused).
 */
export function ceFinish(_ctx: Context, s: { n: number; slot: number }, b: { max: Buf; sum: Buf; picked: Buf; lse: Buf; loss: Buf }): Call[] {
  checkRows('ceFinish', s.n);
  if (!Number.isInteger(s.slot) || s.slot < 0) throw new RangeError(`ceFinish: slot must be a non-negative integer, got ${s.slot}`);
  return [call(FINISH, { rmax: b.max, rsum: b.sum, picked: b.picked, lse: b.lse, loss: b.loss }, s, [1], { flops: 0, bytes: 16 * s.n + 4 })];
}

/**
 * In place: logits[i, j] = exp(logits[i, j] − lse[i]) − [j + vocabStart = targets[i]], the summed
 * loss's gradient; 0 for a row whose target is negative.
 */
export function ceChunkGrad(ctx: Context, s: { n: number; chunk: number; vocabStart: number }, b: { logits: Buf; targets: Buf; lse: Buf }): Call {
  checkChunk('ceChunkGrad', s);
  // Bytes: a scored row reads its target, lse and logits and writes its logits (an unscored one, the
  // exception, reads no logits).
  return call(GRAD, b, { rows: s.n, chunk: s.chunk, vocabStart: s.vocabStart }, perRow(ctx, s.n), { flops: 0, bytes: 8 * s.n * s.chunk + 8 * s.n });
}
