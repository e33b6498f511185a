/**
 * The model's parameters, in the order they are created and saved: names (as checkpoints store
 * them), shapes, and whether AdamW decays them. One list for every engine: the tfjs model creates its
 * variables from it (each from its own seed by position), and the WebGPU engine's plan sizes its
 * buffers from it without building a model.
 *
 * Pure; covered by test/trainer/param-layout.test.ts.
 */
import type { ModelConfig } from '../schemas/train.ts';

export interface ParamSpec {
  name: string;
  shape: [number] | [number, number];
  /** Norm weights: ones, never decayed. The rest: N(0, 0.02) matrices, decayed. */
  kind: 'matrix' | 'norm';
}

export function paramLayout(cfg: ModelConfig): ParamSpec[] {
  const { hidden: H, intermediate: I, vocabRows: V } = cfg;
  const kv = cfg.kvHeads * (H / cfg.heads);
  const matrix = (name: string, rows: number, cols: number): ParamSpec => ({ name, shape: [rows, cols], kind: 'matrix' });
  const norm = (name: string): ParamSpec => ({ name, shape: [H], kind: 'norm' });
  const out: ParamSpec[] = [matrix('embed', V, H)];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `layers.${l}.`;
    out.push(
      norm(`${p}attn_norm`),
      matrix(`${p}wq`, H, H),
      matrix(`${p}wk`, H, kv),
      matrix(`${p}wv`, H, kv),
      matrix(`${p}wo`, H, H),
      norm(`${p}mlp_norm`),
      matrix(`${p}w_gate`, H, I),
      matrix(`${p}w_up`, H, I),
      matrix(`${p}w_down`, I, H),
    );
  }
  out.push(norm('final_norm'), matrix('lm_head', H, V));
  return out;
}
