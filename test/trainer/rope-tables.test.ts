/**
 * RoPE's tables against Transformers' own (LlamaRotaryEmbedding: inv_freq and the angles in fp32),
 * computed with torch 2.13 for head dim 16, base 10000: columns 0, 3 and 7 at positions 0, 1, 7, 1000
 * and 4095. The reference model and the WebGPU engine both rotate by these tables.
 */
import { expect, it } from 'vitest';
import { ropeTables } from '../../trainer/rope-tables.ts';

const POSITIONS = [0, 1, 7, 1000, 4095];
const COLUMNS = [0, 3, 7];
// prettier-ignore
const TORCH_COS = [1.0, 1.0, 1.0, 0.54030234, 0.99950004, 0.99999994, 0.75390226, 0.97559988, 0.99999756, 0.56237906, 0.9786824, 0.95041525, -0.06597599, -0.77125478, 0.27235872];
// prettier-ignore
const TORCH_SIN = [0.0, 0.0, 0.0, 0.84147096, 0.03161751, 0.00031623, 0.65698659, 0.21955611, 0.00221359, 0.82687956, 0.20537944, 0.31098363, -0.99782121, -0.63652658, 0.96219581];

it("gives Transformers' cos and sin, position by position", () => {
  const t = ropeTables({ hidden: 64, heads: 4, ropeBase: 10000 }, 4096);
  expect(t.cos).toHaveLength(4096 * 8);
  const at = (table: Float32Array) => POSITIONS.flatMap((p) => COLUMNS.map((j) => table[p * 8 + j]));
  at(t.cos).forEach((c, i) => expect(c).toBeCloseTo(TORCH_COS[i], 6));
  at(t.sin).forEach((s, i) => expect(s).toBeCloseTo(TORCH_SIN[i], 6));
});
