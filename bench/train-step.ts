/** What every timed training step of the benches uses, meap's (train-once.ts) and PyTorch's (anchors/torch_train.py). */
export const BENCH_STEP = { lr: 4e-4, clip: 1, adam: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 } };
