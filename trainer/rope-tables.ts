/**
 * RoPE's cos and sin for positions 0..maxPos-1, [maxPos, headDim/2]: the one home of the angles that
 * the tfjs reference (trainer/model.ts) and the WebGPU engine (its rope kernel) both rotate by. Every
 * step in float32 as Transformers' LlamaRotaryEmbedding takes it (`1 / base ** (arange(0, d, 2) / d)`,
 * then the position product), then cos/sin: inv_freq rounded once from float64 instead differs by an
 * ulp, which position 1000 turns into 8e-7 in cos.
 *
 * Covered by test/trainer/rope-tables.test.ts.
 */
import type { ModelShape } from '../schemas/train.ts';

export interface RopeTables {
  cos: Float32Array;
  sin: Float32Array;
}

export function ropeTables(shape: Pick<ModelShape, 'hidden' | 'heads' | 'ropeBase'>, maxPos: number): RopeTables {
  const d = shape.hidden / shape.heads;
  const half = d / 2;
  const f = Math.fround;
  const invFreq = Array.from({ length: half }, (_, j) => f(1 / f(Math.pow(shape.ropeBase, f((2 * j) / d)))));
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let pos = 0; pos < maxPos; pos++) {
    for (let j = 0; j < half; j++) {
      const a = f(f(pos) * invFreq[j]);
      cos[pos * half + j] = Math.cos(a);
      sin[pos * half + j] = Math.sin(a);
    }
  }
  return { cos, sin };
}
