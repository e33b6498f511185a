/**
 * A run's plots as self-contained SVG (no fonts, scripts or external references), meant to be
 * opened straight from the run directory: the loss curve (the per-step loss as a thin line, a
 * trailing moving average as a thick one, labelled step / loss axes) and the needle grid of
 * `meap eval --needle`. Covered by test/trainer/plot.test.ts and test/e2e/needle.test.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export const LOSS_SVG = 'loss.svg';

/**
 * Writes RUN_DIR/loss.svg; returns its path. `meap train` and `meap plot` both write it, so its title
 * comes from the history alone: a redrawn plot is the plot train drew.
 */
export async function writeLossSvg(runDir: string, points: { step: number; loss: number }[]): Promise<string> {
  const file = path.join(runDir, LOSS_SVG);
  await fs.writeFile(file, lossSvg(points, `meap train: loss over ${points.length} ${points.length === 1 ? 'step' : 'steps'}`));
  return file;
}

const WIDTH = 800;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 50 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
const MA_WINDOW = 20;
// About two drawn points per horizontal pixel is as much detail as the eye (or a browser) can use.
const MAX_BUCKETS = PLOT_W;

interface Pt {
  step: number;
  loss: number;
}

export function lossSvg(points: { step: number; loss: number }[], title = 'Training loss'): string {
  const finite: Pt[] = [];
  let skipped = 0;
  for (const p of points) {
    if (Number.isFinite(p.loss) && Number.isFinite(p.step)) finite.push({ step: p.step, loss: p.loss });
    else skipped += 1;
  }
  // The moving average and the downsampling both assume step order; a resumed log may not be in it.
  finite.sort((a, b) => a.step - b.step);

  const heading = skipped > 0 ? `${title} (${skipped} non-finite loss${skipped === 1 ? '' : 'es'} skipped)` : title;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title>${esc(heading)}</title>`);
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="${MARGIN.top / 2 + 5}" text-anchor="middle" font-size="15">${esc(heading)}</text>`);

  const x0 = MARGIN.left;
  const y0 = MARGIN.top + PLOT_H;
  // Grid lines go in here, under the axes, once the scales are known.
  const gridAt = out.length;
  // The axes are a path too, so even an empty plot is a well-formed drawing.
  out.push(`<path d="M${x0} ${MARGIN.top}V${y0}H${x0 + PLOT_W}" fill="none" stroke="#333" stroke-width="1"/>`);
  out.push(`<text x="${x0 + PLOT_W / 2}" y="${HEIGHT - 8}" text-anchor="middle">step</text>`);
  out.push(
    `<text x="16" y="${MARGIN.top + PLOT_H / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + PLOT_H / 2})">loss</text>`,
  );

  if (finite.length === 0) {
    out.push(
      `<text x="${x0 + PLOT_W / 2}" y="${MARGIN.top + PLOT_H / 2}" text-anchor="middle" fill="#888">no finite losses to plot</text>`,
    );
    out.push('</svg>');
    return out.join('\n');
  }

  const [sMin, sMax] = padRange(finite[0].step, finite[finite.length - 1].step, 1);
  let lMin = Infinity;
  let lMax = -Infinity;
  for (const p of finite) {
    if (p.loss < lMin) lMin = p.loss;
    if (p.loss > lMax) lMax = p.loss;
  }
  [lMin, lMax] = padRange(lMin, lMax, Math.max(Math.abs(lMin) * 0.05, 0.05));

  const sx = (s: number) => x0 + ((s - sMin) / (sMax - sMin)) * PLOT_W;
  const sy = (l: number) => y0 - ((l - lMin) / (lMax - lMin)) * PLOT_H;

  const grid: string[] = [];
  const xTicks = niceTicks(sMin, sMax, 6, true);
  for (const t of xTicks.ticks) {
    const x = fmt(sx(t));
    out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="#333"/>`);
    grid.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${y0}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle">${esc(tickLabel(t, xTicks.step))}</text>`);
  }
  const yTicks = niceTicks(lMin, lMax, 5, false);
  for (const t of yTicks.ticks) {
    const y = fmt(sy(t));
    out.push(`<line x1="${x0 - 5}" y1="${y}" x2="${x0}" y2="${y}" stroke="#333"/>`);
    grid.push(`<line x1="${x0}" y1="${y}" x2="${x0 + PLOT_W}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(tickLabel(t, yTicks.step))}</text>`);
  }
  out.splice(gridAt, 0, ...grid);

  const raw = downsampleMinMax(finite, MAX_BUCKETS);
  out.push(`<path d="${pathData(raw, sx, sy)}" fill="none" stroke="#6baed6" stroke-width="1"/>`);
  if (finite.length === 1) {
    out.push(`<circle cx="${fmt(sx(finite[0].step))}" cy="${fmt(sy(finite[0].loss))}" r="3" fill="#3182bd"/>`);
  }

  const maWindow = Math.min(MA_WINDOW, finite.length);
  if (finite.length > 1) {
    const avg = downsampleMean(movingAverage(finite, maWindow), MAX_BUCKETS);
    out.push(`<path d="${pathData(avg, sx, sy)}" fill="none" stroke="#08519c" stroke-width="2.5"/>`);
  }

  const lx = x0 + PLOT_W - 190;
  const ly = MARGIN.top + 12;
  out.push(`<rect x="${lx - 8}" y="${ly - 12}" width="186" height="42" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="#6baed6" stroke-width="1"/>`);
  out.push(`<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">loss per step</text>`);
  if (finite.length > 1) {
    out.push(`<line x1="${lx}" y1="${ly + 18}" x2="${lx + 24}" y2="${ly + 18}" stroke="#08519c" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 18}" dominant-baseline="middle">moving average (${maWindow})</text>`);
  }

  out.push('</svg>');
  return out.join('\n');
}

/** A trailing mean over the last `window` points (fewer at the start). */
function movingAverage(pts: Pt[], window: number): Pt[] {
  const res: Pt[] = [];
  let sum = 0;
  for (let i = 0; i < pts.length; i++) {
    sum += pts[i].loss;
    if (i >= window) sum -= pts[i - window].loss;
    res.push({ step: pts[i].step, loss: sum / Math.min(i + 1, window) });
  }
  return res;
}

/** Keeps each bucket's lowest and highest loss, in step order, so spikes survive downsampling. */
function downsampleMinMax(pts: Pt[], buckets: number): Pt[] {
  if (pts.length <= 2 * buckets) return pts;
  const res: Pt[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * pts.length) / buckets);
    const hi = Math.floor(((b + 1) * pts.length) / buckets);
    if (hi <= lo) continue;
    let iMin = lo;
    let iMax = lo;
    for (let i = lo; i < hi; i++) {
      if (pts[i].loss < pts[iMin].loss) iMin = i;
      if (pts[i].loss > pts[iMax].loss) iMax = i;
    }
    if (iMin === iMax) res.push(pts[iMin]);
    else if (iMin < iMax) res.push(pts[iMin], pts[iMax]);
    else res.push(pts[iMax], pts[iMin]);
  }
  return res;
}

/** The moving average is already smooth: one mean point per bucket loses nothing visible. */
function downsampleMean(pts: Pt[], buckets: number): Pt[] {
  if (pts.length <= buckets) return pts;
  const res: Pt[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * pts.length) / buckets);
    const hi = Math.floor(((b + 1) * pts.length) / buckets);
    if (hi <= lo) continue;
    let s = 0;
    let l = 0;
    for (let i = lo; i < hi; i++) {
      s += pts[i].step;
      l += pts[i].loss;
    }
    res.push({ step: s / (hi - lo), loss: l / (hi - lo) });
  }
  return res;
}

function pathData(pts: Pt[], sx: (s: number) => number, sy: (l: number) => number): string {
  const parts = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${fmt(sx(p.step))} ${fmt(sy(p.loss))}`);
  // A lone point still needs a segment for the path to render at all.
  if (pts.length === 1) parts.push(`h0.01`);
  return parts.join('');
}

/** A degenerate range (one point, a flat loss) is widened so the scales never divide by zero. */
function padRange(lo: number, hi: number, pad: number): [number, number] {
  if (hi > lo) return [lo, hi];
  return [lo - pad, hi + pad];
}

/** Ticks at 1, 2 or 5 × 10^k inside [lo, hi], about `count` of them; steps are whole numbers. */
function niceTicks(lo: number, hi: number, count: number, integer: boolean): { ticks: number[]; step: number } {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return { ticks: [lo], step: 1 };
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) {
    // k × step rather than repeated addition, so 0.1-sized steps do not drift into 0.30000000000000004.
    const t = Number((k * step).toPrecision(12));
    if (!integer || t >= 0) ticks.push(t);
  }
  return { ticks, step };
}

/** Every label on an axis gets the decimals its tick spacing needs, so 10 and 10.2 read as 10.0 and 10.2. */
function tickLabel(v: number, step: number): string {
  const a = Math.abs(v);
  if (a >= 1e6 || (a > 0 && a < 1e-4)) return v.toExponential(2);
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function fmt(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const NEEDLE_SVG = 'needle.svg';

/** One cell of a needle grid: its prompts' share answered exactly. */
export interface NeedleCell {
  length: number;
  depth: number;
  accuracy: number;
}

const CELL = { w: 64, h: 28 };

/**
 * The needle grid as the paper's Figure 3 draws it: context length across, needle depth down (0% at
 * the top), each cell coloured from red (no prompt answered) to green (all) and labelled with its
 * accuracy.
 */
export function needleSvg(cells: NeedleCell[], title: string): string {
  const lengths = [...new Set(cells.map((c) => c.length))].sort((a, b) => a - b);
  const depths = [...new Set(cells.map((c) => c.depth))].sort((a, b) => a - b);
  const left = 90;
  const top = 50;
  // Wide enough for the title, which a small grid would clip.
  const width = Math.max(left + lengths.length * CELL.w + 20, 8 * title.length + 40);
  const height = top + depths.length * CELL.h + 50;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (const c of cells) {
    const x = left + lengths.indexOf(c.length) * CELL.w;
    const y = top + depths.indexOf(c.depth) * CELL.h;
    // Red (0) through yellow to green (1), in HSL's hue.
    out.push(`<rect x="${x}" y="${y}" width="${CELL.w}" height="${CELL.h}" fill="hsl(${Math.round(120 * c.accuracy)},70%,55%)" stroke="white"/>`);
    out.push(`<text x="${x + CELL.w / 2}" y="${y + CELL.h / 2}" text-anchor="middle" dominant-baseline="middle">${Math.round(100 * c.accuracy)}%</text>`);
  }
  lengths.forEach((l, i) => out.push(`<text x="${left + (i + 0.5) * CELL.w}" y="${top + depths.length * CELL.h + 16}" text-anchor="middle">${l}</text>`));
  depths.forEach((d, i) => out.push(`<text x="${left - 8}" y="${top + (i + 0.5) * CELL.h}" text-anchor="end" dominant-baseline="middle">${d}%</text>`));
  out.push(`<text x="${left + (lengths.length * CELL.w) / 2}" y="${height - 10}" text-anchor="middle">context length (tokens)</text>`);
  out.push(`<text x="16" y="${top + (depths.length * CELL.h) / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + (depths.length * CELL.h) / 2})">needle depth</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
