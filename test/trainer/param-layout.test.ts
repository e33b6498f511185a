/** The parameter layout is the one the tfjs model creates and saves: names, shapes, order, decay. */
import { expect, it } from 'vitest';
import { PRESETS } from '../../schemas/train.ts';
import { selectBackend } from '../../trainer/backend.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { paramLayout } from '../../trainer/param-layout.ts';

it('lists the model parameters in the order, with the shapes and decay, of the tfjs model', async () => {
  await selectBackend('cpu');
  const cfg = { ...PRESETS.tiny, heads: 4, kvHeads: 2, vocabRows: 320 };
  const model = new LlamaModel(cfg, 0);
  const layout = paramLayout(cfg);
  expect(layout.map((p) => [p.name, p.shape, p.kind === 'matrix'])).toEqual(model.params.map((p) => [p.name, p.variable.shape, p.decay]));
  model.dispose();
  expect(layout[0].name).toBe('embed');
  expect(layout.at(-1)!.name).toBe('lm_head');
});
