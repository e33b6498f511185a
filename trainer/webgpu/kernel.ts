/**
 * A kernel declares its bindings once, by name and access, in a table: the WGSL `@group/@binding`
 * lines and the uniform struct are generated from it, and a call names its buffers by the same keys
 * (TypeScript requires each one), so a buffer cannot be bound in the wrong slot. A call is plain data
 * (the kernel, its buffers by name, its uniform values, its workgroups, its cost): the step's plan is
 * a list of them made without a GPU, and the runtime (runtime.ts) binds them to a device.
 *
 * Covered by test/trainer/webgpu/kernel.test.ts and through every kernel's own test.
 */

/** What a call binds: a GPUBuffer, or a planned buffer that stands for one (both have these two). */
export interface Buf {
  readonly label: string;
  readonly size: number;
}

/** A byte range of a buffer (offset a multiple of the device's offset alignment). */
export interface BufRange {
  buffer: Buf;
  offset: number;
  size: number;
}

/** The device limits a kernel's call depends on; the plan takes them from the adapter, or WebGPU's defaults. */
export interface Limits {
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
};

/** Anything that offers the limits: the runtime, or a plan being made without a device. */
export interface Context {
  readonly limits: Limits;
}

export type Access = 'read' | 'read_write' | 'uniform';

export interface BindingDecl {
  access: Access;
  /** The WGSL type: array<f32> by default. */
  type: string;
}

export const read = (type = 'array<f32>'): BindingDecl => ({ access: 'read', type });
export const write = (type = 'array<f32>'): BindingDecl => ({ access: 'read_write', type });
export const uniform = (type: string): BindingDecl => ({ access: 'uniform', type });

export type Scalar = 'u32' | 'i32' | 'f32';

export interface Kernel<N extends string = string, P extends string = string> {
  name: string;
  /** The whole WGSL: the generated struct and bindings, then the body. */
  code: string;
  bindings: ReadonlyArray<{ name: N } & BindingDecl>;
  params: ReadonlyArray<{ name: P; type: Scalar }>;
}

/**
 * A kernel from its binding table, its uniform fields (in order; the struct `P` bound as `p` after
 * the table) and its WGSL body (which uses the bindings' names and `p.field`).
 */
export function kernel<const B extends Record<string, BindingDecl>, const Q extends Record<string, Scalar> = Record<never, Scalar>>(
  name: string,
  decl: { bindings: B; params?: Q; body: string },
): Kernel<keyof B & string, keyof Q & string> {
  const bindings = Object.entries(decl.bindings).map(([n, d]) => ({ name: n as keyof B & string, ...d }));
  const params = Object.entries(decl.params ?? {}).map(([n, type]) => ({ name: n as keyof Q & string, type: type as Scalar }));
  const lines = bindings.map((b, i) => {
    const space = b.access === 'uniform' ? 'uniform' : `storage, ${b.access}`;
    return `@group(0) @binding(${i}) var<${space}> ${b.name}: ${b.type};`;
  });
  if (params.length > 0) {
    lines.unshift(`struct P { ${params.map((p) => `${p.name}: ${p.type}`).join(', ')} }`);
    lines.push(`@group(0) @binding(${bindings.length}) var<uniform> p: P;`);
  }
  return { name, code: `${lines.join('\n')}\n${decl.body}`, bindings, params };
}

/** Useful arithmetic and the bytes a call must move at least: the plan's and the profile's figures. */
export interface Cost {
  flops: number;
  bytes: number;
}

/** One dispatch as data. */
export interface Call {
  label: string;
  kernel: Kernel;
  buffers: Record<string, Buf | BufRange>;
  /** The uniform block's bytes, packed from the kernel's params table; absent when it has none. */
  uniform?: ArrayBuffer;
  workgroups: [number, number, number];
  cost: Cost;
}

/** A call of `k` with every binding named and every uniform field given. */
export function call<N extends string, P extends string>(
  k: Kernel<N, P>,
  buffers: Record<N, Buf | BufRange>,
  values: Record<P, number>,
  workgroups: [number, number?, number?],
  cost: Cost,
  label: string = k.name,
): Call {
  const [x, y = 1, z = 1] = workgroups;
  const c: Call = { label, kernel: k as Kernel, buffers, workgroups: [x, y, z], cost };
  if (k.params.length > 0) c.uniform = pack(k.params.map((p) => [p.type, values[p.name]]));
  return c;
}

/** A uniform block from u32/i32/f32 fields in order (each 4 bytes), padded to 16 bytes. */
export function pack(fields: ReadonlyArray<readonly [Scalar, number]>): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const view = new DataView(buf);
  fields.forEach(([type, v], i) => {
    if (!Number.isFinite(v)) throw new RangeError(`uniform field ${i} is ${v}`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v, true);
  });
  return buf;
}

/** ceil(a / b) for workgroup counts. */
export const groups = (a: number, b: number) => Math.ceil(a / b);

/** `count` workgroups as an x × y grid (x·y ≥ count; the extra ones find nothing to do). */
export function grid(ctx: Context, count: number): [number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (count <= max) return [count, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}
