/**
 * Learning-rate schedule: linear warm-up, then cosine decay to a floor.
 *
 * With T = totalSteps, a 0-based `step` s and W = ceil(warmup × T) warm-up steps:
 *
 *   s < W:   lr_s = lr × (s + 1) / W
 *   s ≥ W:   p    = (s − W) / max(1, T − W − 1)          (clamped to [0, 1])
 *            lr_s = minLr + ½ (lr − minLr) (1 + cos(π p))
 *
 * The warm-up ends on exactly `lr` (s = W − 1), the first decay step is `lr` again, and the last
 * step (s = T − 1) gets `minLr`. W = 0 means no warm-up; T = 1 gives a single step at `lr`.
 * Steps past the end stay at `minLr` rather than climbing back up the cosine.
 */
export function learningRate(
  step: number,
  totalSteps: number,
  o: { lr: number; minLr: number; warmup: number },
): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${step}`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new Error(`totalSteps must be a positive integer, got ${totalSteps}`);
  }
  const w = warmupSteps(totalSteps, o.warmup);
  if (step < w) return (o.lr * (step + 1)) / w;
  const p = Math.min(1, (step - w) / Math.max(1, totalSteps - w - 1));
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * p));
}

function warmupSteps(totalSteps: number, warmup: number): number {
  // 0.07 × 100 is 7.000000000000001 in doubles; a plain ceil would add a warm-up step nobody asked for.
  const exact = warmup * totalSteps;
  const nearest = Math.round(exact);
  const w = Math.abs(exact - nearest) < 1e-9 ? nearest : Math.ceil(exact);
  return Math.min(Math.max(w, 0), totalSteps);
}
