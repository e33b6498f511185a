/** Kernel declarations: the WGSL bindings and uniform struct generated from one table; calls as data. */
import { describe, expect, it } from 'vitest';
import { call, DEFAULT_LIMITS, grid, kernel, pack, read, uniform, write } from '../../../trainer/webgpu/kernel.ts';

describe('kernel', () => {
  const k = kernel('k', {
    bindings: { a: read(), ids: read('array<i32>'), out: write('array<vec4f>'), h: uniform('H') },
    params: { n: 'u32', scale: 'f32' },
    body: 'fn main() {}',
  });

  it('generates the bindings in table order and the uniform struct after them', () => {
    expect(k.code).toBe(
      [
        'struct P { n: u32, scale: f32 }',
        '@group(0) @binding(0) var<storage, read> a: array<f32>;',
        '@group(0) @binding(1) var<storage, read> ids: array<i32>;',
        '@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;',
        '@group(0) @binding(3) var<uniform> h: H;',
        '@group(0) @binding(4) var<uniform> p: P;',
        'fn main() {}',
      ].join('\n'),
    );
  });

  it('makes a call with its buffers by name and its uniform packed in the table order', () => {
    const b = (label: string) => ({ label, size: 64 });
    const c = call(k, { a: b('a'), ids: b('ids'), out: b('out'), h: b('h') }, { scale: 0.5, n: 7 }, [3], { flops: 1, bytes: 2 });
    expect(c.workgroups).toEqual([3, 1, 1]);
    expect(c.buffers.out).toEqual({ label: 'out', size: 64 });
    const v = new DataView(c.uniform!);
    expect([v.getUint32(0, true), v.getFloat32(4, true)]).toEqual([7, 0.5]);
  });

  it('has no uniform when the kernel declares no fields', () => {
    const bare = kernel('bare', { bindings: { x: write() }, body: '' });
    expect(bare.code).toBe('@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n');
    expect(call(bare, { x: { label: 'x', size: 4 } }, {}, [1], { flops: 0, bytes: 0 }).uniform).toBeUndefined();
  });
});

describe('pack', () => {
  it('packs u32, i32 and f32 fields little-endian into a 16-byte multiple', () => {
    const b = pack([['u32', 7], ['i32', -2], ['f32', 1.5]]);
    expect(b.byteLength).toBe(16);
    const v = new DataView(b);
    expect([v.getUint32(0, true), v.getInt32(4, true), v.getFloat32(8, true)]).toEqual([7, -2, 1.5]);
  });

  it('refuses a value that is not finite', () => {
    expect(() => pack([['f32', NaN]])).toThrow(/is NaN/);
  });
});

describe('grid', () => {
  it('folds a long line of workgroups into two dimensions', () => {
    const ctx = { limits: DEFAULT_LIMITS };
    expect(grid(ctx, 100)).toEqual([100, 1]);
    const [x, y] = grid(ctx, 200_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200_000);
  });
});
