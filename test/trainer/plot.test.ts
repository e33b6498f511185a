import { describe, expect, it } from 'vitest';
import { lossSvg } from '../../trainer/plot.ts';

/** Enough of an XML check for a generated file: one root, every tag closed in order, no stray text. */
function expectWellFormed(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let roots = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    if (stack.length === 0) expect(between.trim()).toBe('');
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop()).toBe(name);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    }
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  // A NaN or Infinity coordinate would make the browser drop the whole path.
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
}

const paths = (svg: string) => [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
const pathPoints = (d: string) => d.split(/[ML]/).filter((s) => s.length > 0).length;

describe('lossSvg', () => {
  it('draws empty axes for no points', () => {
    const svg = lossSvg([]);
    expectWellFormed(svg);
    expect(paths(svg).length).toBeGreaterThanOrEqual(1);
    expect(svg).toContain('no finite losses');
    expect(svg).toContain('<title>Training loss</title>');
  });

  it('draws a single point', () => {
    const svg = lossSvg([{ step: 0, loss: 10.4 }], 'one step');
    expectWellFormed(svg);
    expect(paths(svg).length).toBeGreaterThanOrEqual(2);
    expect(svg).toContain('<circle');
    expect(svg).toContain('<title>one step</title>');
  });

  it('draws thousands of points, downsampled, with a moving average and labelled ticks', () => {
    const pts = Array.from({ length: 5000 }, (_, i) => ({ step: i, loss: 2 + 8 * Math.exp(-i / 800) + 0.3 * Math.sin(i) }));
    pts[3000].loss = 25; // a spike that downsampling must keep
    const svg = lossSvg(pts);
    expectWellFormed(svg);
    const [, raw, avg] = paths(svg);
    expect(pathPoints(raw)).toBeLessThan(2000);
    expect(pathPoints(raw)).toBeGreaterThan(500);
    expect(pathPoints(avg)).toBeLessThanOrEqual(1000);
    expect(svg).toContain('stroke-width="2.5"');
    expect(svg).toContain('moving average (20)');
    // The spike sets the top of the loss axis, so the highest tick is at least 20.
    const ticks = [...svg.matchAll(/text-anchor="end" dominant-baseline="middle">([^<]+)</g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(20);
    expect(svg).toMatch(/>4000</);
    expect(svg).toContain('>step<');
    expect(svg).toContain('>loss<');
    expect(svg.length).toBeLessThan(200_000);
  });

  it('skips NaN and Infinity losses and says so in the title', () => {
    const svg = lossSvg(
      [
        { step: 0, loss: 5 },
        { step: 1, loss: NaN },
        { step: 2, loss: Infinity },
        { step: 3, loss: 4 },
        { step: 4, loss: 3.5 },
      ],
      'run <a> & b',
    );
    expectWellFormed(svg);
    expect(svg).toContain('<title>run &lt;a&gt; &amp; b (2 non-finite losses skipped)</title>');
  });

  it('handles a flat loss and all-NaN input', () => {
    expectWellFormed(lossSvg(Array.from({ length: 50 }, (_, i) => ({ step: i, loss: 3 }))));
    const svg = lossSvg([{ step: 0, loss: NaN }]);
    expectWellFormed(svg);
    expect(svg).toContain('1 non-finite loss skipped');
  });
});
