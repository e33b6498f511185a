/**
 * The small runtime under the hand-written kernels: buffers, pipelines compiled once per source and
 * constants, and calls (kernel.ts) bound once to a device as dispatches and replayed every step. A
 * training step is a list of dispatches encoded into one compute pass; nothing here reads back except
 * `read` and `f32Reader`.
 *
 * Covered by test/trainer/webgpu/runtime.test.ts.
 */
import type { Buf, BufRange, Call, Limits } from './kernel.ts';

export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

const STORAGE = 0x0080; // GPUBufferUsage.STORAGE, spelt out: the globals exist only once Dawn is loaded
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const UNIFORM = 0x0040;
const MAP_READ = 0x0001;

export class Gpu {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private allocated = 0;
  private peak = 0;
  private readonly owned = new Set<GPUBuffer>();

  constructor(readonly device: GPUDevice) {}

  get limits(): Limits {
    return this.device.limits;
  }

  /** Bytes in buffers this runtime created and has not destroyed, and the most there ever were. */
  bytes(): { now: number; peak: number } {
    return { now: this.allocated, peak: this.peak };
  }

  /** A storage buffer of `bytes` (rounded up to 4), zero-filled as WebGPU guarantees. */
  buffer(bytes: number, label: string): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.device.limits.maxBufferSize) {
      throw new RangeError(`${label}: a ${size}-byte buffer is larger than this GPU's maximum of ${this.device.limits.maxBufferSize} bytes`);
    }
    const b = this.device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST, label });
    this.track(b, size);
    return b;
  }

  /** A storage buffer holding `data`. */
  upload(data: Float32Array | Int32Array | Uint32Array, label: string): GPUBuffer {
    const b = this.buffer(data.byteLength, label);
    this.write(b, data);
    return b;
  }

  /** A uniform buffer holding `data` (16-byte aligned size, as uniforms need). */
  uniform(data: ArrayBuffer | ArrayBufferView, label: string): GPUBuffer {
    const bytes = ArrayBuffer.isView(data) ? data.byteLength : data.byteLength;
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const b = this.device.createBuffer({ size, usage: UNIFORM | COPY_DST, label });
    this.track(b, size);
    this.write(b, data);
    return b;
  }

  write(buffer: GPUBuffer, data: ArrayBuffer | ArrayBufferView, offsetBytes = 0): void {
    if (ArrayBuffer.isView(data)) this.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
    else this.device.queue.writeBuffer(buffer, offsetBytes, data);
  }

  /** Frees every buffer this runtime made: the engine is done with the device. */
  destroyAll(): void {
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.allocated = 0;
  }

  destroy(buffer: GPUBuffer): void {
    if (this.owned.delete(buffer)) this.allocated -= buffer.size;
    buffer.destroy();
  }

  /** Compiled once per source and constants. */
  pipeline(label: string, code: string, constants: Record<string, number> = {}): GPUComputePipeline {
    const key = `${code}\u0000${JSON.stringify(constants)}`;
    let p = this.pipelines.get(key);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code, label });
      p = this.device.createComputePipeline({ layout: 'auto', label, compute: { module, entryPoint: 'main', constants } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * A call bound to this device: its pipeline, its uniform block and its bind group, in the order of
   * the kernel's binding table. `resolve` maps a planned buffer to its GPUBuffer (the identity when the
   * call already names GPUBuffers, as tests' calls do).
   */
  bind(call: Call, resolve: (b: Buf) => GPUBuffer = (b) => b as GPUBuffer): Dispatch {
    const { kernel: k, label } = call;
    const pipeline = this.pipeline(k.name, k.code);
    const entries: GPUBindGroupEntry[] = k.bindings.map((b, i) => {
      const x = call.buffers[b.name];
      if (x === undefined) throw new Error(`${label}: no buffer for binding ${b.name}`);
      const resource = 'buffer' in x ? { buffer: resolve((x as BufRange).buffer), offset: x.offset, size: x.size } : { buffer: resolve(x) };
      return { binding: i, resource };
    });
    if (call.uniform !== undefined) entries.push({ binding: k.bindings.length, resource: { buffer: this.uniform(call.uniform, `${label} params`) } });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label });
    const [x, y, z] = call.workgroups;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new RangeError(`${label}: ${x}×${y}×${z} workgroups, more than ${max} in one dimension`);
    return { label, pipeline, bindGroup, workgroups: call.workgroups };
  }

  /** Encodes the dispatches, in order, into `encoder` (one compute pass, timed when `timestampWrites` says where). */
  encode(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[], timestampWrites?: GPUComputePassTimestampWrites): void {
    const pass = encoder.beginComputePass(timestampWrites && { timestampWrites });
    for (const d of dispatches) {
      if (d.workgroups[0] === 0 || d.workgroups[1] === 0 || d.workgroups[2] === 0) continue;
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass.end();
  }

  /** Runs the calls (bound now) or dispatches now, in one submission. */
  run(work: ReadonlyArray<Dispatch | Call>): void {
    const encoder = this.device.createCommandEncoder();
    this.encode(encoder, work.map((w) => ('kernel' in w ? this.bind(w) : w)));
    this.device.queue.submit([encoder.finish()]);
  }

  /** The bytes of a buffer (or of its first `bytes`), after all work submitted so far. */
  async read(buffer: GPUBuffer, bytes = buffer.size, offsetBytes = 0): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: MAP_READ | COPY_DST, label: 'read staging' });
    try {
      return await this.readThrough(staging, buffer, bytes, offsetBytes);
    } finally {
      staging.destroy();
    }
  }

  async readF32(buffer: GPUBuffer, count?: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, (count ?? buffer.size / 4 - offset) * 4, offset * 4));
  }

  /**
   * A reader of the first bytes (at most `size`) of a buffer that keeps one staging buffer for all its
   * reads: for what is read every step (the step's statistics, a profile's timestamps), so that no
   * step creates and destroys one. Its reads must not overlap; each is awaited before the next.
   */
  reader(size: number, label: string): (buffer: GPUBuffer, bytes?: number) => Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size, usage: MAP_READ | COPY_DST, label: `${label} staging` });
    this.track(staging, size);
    return (buffer, bytes = size) => this.readThrough(staging, buffer, bytes, 0);
  }

  /** `reader` for the first `count` floats. */
  f32Reader(count: number, label: string): (buffer: GPUBuffer) => Promise<Float32Array> {
    const read = this.reader(count * 4, label);
    return async (buffer) => new Float32Array(await read(buffer));
  }

  private async readThrough(staging: GPUBuffer, buffer: GPUBuffer, bytes: number, offsetBytes: number): Promise<ArrayBuffer> {
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offsetBytes, staging, 0, Math.ceil(bytes / 4) * 4);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MAP_READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    return out;
  }

  /** Zeroes a buffer (or a byte range of it) in the given encoder, outside any pass. */
  clear(encoder: GPUCommandEncoder, buffer: GPUBuffer, offsetBytes = 0, bytes?: number): void {
    encoder.clearBuffer(buffer, offsetBytes, bytes);
  }

  private track(b: GPUBuffer, size: number): void {
    this.owned.add(b);
    this.allocated += size;
    this.peak = Math.max(this.peak, this.allocated);
  }
}
