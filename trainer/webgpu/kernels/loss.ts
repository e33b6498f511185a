/**
 * The LM head's cross-entropy, fused and chunked over the vocabulary so that the [n, V] logits never
 * exist at once: the engine computes one chunk's logits [n, chunk] (row stride `chunk`) into a scratch
 * buffer with its own matmul, and these kernels fold it into running per-row statistics.
 *
 * Forward, per step:  ceInit; for each chunk { matmul; ceChunkStats }; ceFinish
 *   - max[i], sum[i]: an online log-sum-exp (sum is Σ exp(x − max), rescaled whenever max grows),
 *   - picked[i]: the target's logit, written by the one chunk that holds the target,
 *   - lse[i] = max[i] + log(sum[i]); loss[slot] = Σ_i lse[i] − picked[i] (the summed loss, as
 *     trainer/kernels.ts's crossEntropySum).
 * A negative target (−1, −100) marks an unscored row: it adds exactly 0 to the loss and gets a zero
 * gradient row, so the engine may pass every position of a batch with its padding and unscored
 * tokens in place. Its lse is 0, not a log-sum-exp.
 * Backward, per chunk: matmul again; ceChunkGrad turns the logits in place into softmax − onehot, the
 * gradient of the summed loss, which the engine then pushes through the head's two matmuls.
 *
 * The row-wise kernels give each row one workgroup of 256 invocations reading consecutive columns
 * (coalesced), with a tree reduction in workgroup memory; rows are a grid-stride loop, so no n ever
 * needs more than 65535 workgroups. Every reduction has a fixed shape, so results are deterministic.
 *
 * Covered by test/trainer/webgpu/kernels/loss.test.ts.
 */
import { type Dispatch, type Gpu, params } from '../gpu.ts';
import { workgroupSum } from './prelude.ts';

const WG = 256;
const MAX_GROUPS = 65535;

/** Finite stand-in for −inf: exp(LOW − x) is 0 for any real logit, and no inf − inf can make a NaN. */
const LOW = '-3.0e38';

const INIT = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> rmax: array<f32>;
@group(0) @binding(1) var<storage, read_write> rsum: array<f32>;
@group(0) @binding(2) var<storage, read_write> picked: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = id.x; i < p.n; i += nwg.x * ${WG}u) {
    rmax[i] = ${LOW};
    rsum[i] = 0.0;
    picked[i] = 0.0;
  }
}`;

const STATS = /* wgsl */ `
struct P { n: u32, chunk: u32, vocabStart: i32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> rmax: array<f32>;
@group(0) @binding(3) var<storage, read_write> rsum: array<f32>;
@group(0) @binding(4) var<storage, read_write> picked: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
const WG = ${WG}u;
var<workgroup> wm: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;

@compute @workgroup_size(WG) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var row = wg.x; row < p.n; row += nwg.x) {
    let base = row * p.chunk;
    // One pass per invocation: one exp per element, plus a rescale only when its max grows.
    var m: f32 = ${LOW};
    var s: f32 = 0.0;
    for (var j = lid; j < p.chunk; j += WG) {
      let x = logits[base + j];
      if (x > m) {
        s = s * exp(m - x) + 1.0;
        m = x;
      } else {
        s = s + exp(x - m);
      }
    }
    wm[lid] = m;
    ws[lid] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k >> 1u) {
      if (lid < k) {
        let m2 = wm[lid + k];
        let mm = max(m, m2);
        s = s * exp(m - mm) + ws[lid + k] * exp(m2 - mm);
        m = mm;
        wm[lid] = m;
        ws[lid] = s;
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      let label = targets[row];
      if (label < 0) {
        // An unscored row: lse = 0 + log(1) = picked = 0, so it adds exactly 0 to the loss.
        rmax[row] = 0.0;
        rsum[row] = 1.0;
        picked[row] = 0.0;
      } else {
        let gm = rmax[row];
        let mm = max(gm, m);
        rsum[row] = rsum[row] * exp(gm - mm) + s * exp(m - mm);
        rmax[row] = mm;
        let t = label - p.vocabStart;
        if (t >= 0 && u32(t) < p.chunk) {
          picked[row] = logits[base + u32(t)];
        }
      }
    }
    // The next row overwrites wm and ws.
    workgroupBarrier();
  }
}`;

const FINISH = /* wgsl */ `
struct P { n: u32, slot: u32 }
@group(0) @binding(0) var<storage, read> rmax: array<f32>;
@group(0) @binding(1) var<storage, read> rsum: array<f32>;
@group(0) @binding(2) var<storage, read> picked: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
const WG = ${WG}u;
${workgroupSum(WG)}

@compute @workgroup_size(WG) fn main(@builtin(local_invocation_index) lid: u32) {
  var s: f32 = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let l = rmax[i] + log(rsum[i]);
    lse[i] = l;
    s = s + (l - picked[i]);
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    loss[p.slot] = total;
  }
}`;

const GRAD = /* wgsl */ `
struct P { n: u32, chunk: u32, vocabStart: i32 }
@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
const WG = ${WG}u;

@compute @workgroup_size(WG) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var row = wg.x; row < p.n; row += nwg.x) {
    let base = row * p.chunk;
    let l = lse[row];
    let label = targets[row];
    let t = label - p.vocabStart;
    // An unscored row has no loss, so no gradient (and its lse of 0 must not reach an exp).
    let scored = label >= 0;
    for (var j = lid; j < p.chunk; j += WG) {
      var g: f32 = 0.0;
      if (scored) {
        g = exp(logits[base + j] - l);
        if (i32(j) == t) {
          g = g - 1.0;
        }
      }
      logits[base + j] = g;
    }
  }
}`;

/** One workgroup per row, as many rows at once as one dimension allows (the rest by grid stride). */
const rowGroups = (n: number): [number] => [Math.min(n, MAX_GROUPS)];

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
export function ceInit(gpu: Gpu, s: { n: number }, b: { max: GPUBuffer; sum: GPUBuffer; picked: GPUBuffer }): Dispatch {
  checkRows('ceInit', s.n);
  const u = gpu.uniform(params([['u32', s.n]]), 'ceInit params');
  return gpu.dispatch('ceInit', gpu.pipeline('ceInit', INIT), [b.max, b.sum, b.picked, u], [Math.min(Math.ceil(s.n / WG), MAX_GROUPS)]);
}

/**
 * Folds one chunk of logits [n, chunk] (row stride `chunk`, columns vocabStart … vocabStart+chunk−1)
 * into max/sum, and sets picked[i] for the rows whose target lies in the chunk. targets: i32 [n],
 * negative for an unscored row (whose max, sum and picked become 0, 1 and 0).
 */
export function ceChunkStats(
  gpu: Gpu,
  s: { n: number; chunk: number; vocabStart: number },
  b: { logits: GPUBuffer; targets: GPUBuffer; max: GPUBuffer; sum: GPUBuffer; picked: GPUBuffer },
): Dispatch {
  checkChunk('ceChunkStats', s);
  const u = gpu.uniform(params([['u32', s.n], ['u32', s.chunk], ['i32', s.vocabStart]]), 'ceChunkStats params');
  return gpu.dispatch('ceChunkStats', gpu.pipeline('ceChunkStats', STATS), [b.logits, b.targets, b.max, b.sum, b.picked, u], rowGroups(s.n));
}

/**
 * lse[i] = max[i] + log(sum[i]), and loss[slot] = Σ_i lse[i] − picked[i], summed by one workgroup in
 * a fixed order (n is at most a few thousand scored positions, so one workgroup is enough).
 */
export function ceFinish(
  gpu: Gpu,
  s: { n: number; slot: number },
  b: { max: GPUBuffer; sum: GPUBuffer; picked: GPUBuffer; lse: GPUBuffer; loss: GPUBuffer },
): Dispatch[] {
  checkRows('ceFinish', s.n);
  if (!Number.isInteger(s.slot) || s.slot < 0) throw new RangeError(`ceFinish: slot must be a non-negative integer, got ${s.slot}`);
  const u = gpu.uniform(params([['u32', s.n], ['u32', s.slot]]), 'ceFinish params');
  return [gpu.dispatch('ceFinish', gpu.pipeline('ceFinish', FINISH), [b.max, b.sum, b.picked, b.lse, b.loss, u], [1])];
}

/**
 * In place: logits[i, j] = exp(logits[i, j] − lse[i]) − [j + vocabStart = targets[i]], the summed
 * loss's gradient; 0 for a row whose target is negative.
 */
export function ceChunkGrad(
  gpu: Gpu,
  s: { n: number; chunk: number; vocabStart: number },
  b: { logits: GPUBuffer; targets: GPUBuffer; lse: GPUBuffer },
): Dispatch {
  checkChunk('ceChunkGrad', s);
  const u = gpu.uniform(params([['u32', s.n], ['u32', s.chunk], ['i32', s.vocabStart]]), 'ceChunkGrad params');
  return gpu.dispatch('ceChunkGrad', gpu.pipeline('ceChunkGrad', GRAD), [b.logits, b.targets, b.lse, u], rowGroups(s.n));
}
