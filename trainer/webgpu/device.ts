/**
 * The WebGPU device meap trains on: Dawn for Node (`webgpu`), Vulkan on Linux, Metal on macOS, D3D12
 * on Windows, with tfjs-backend-webgpu registered on a device we create ourselves, so that we ask for
 * the adapter's own limits and hear about every GPU error. Any validation or out-of-memory error, or a
 * lost device, ends the run with one line: a run never goes on with bad numbers.
 *
 * MEAP_WEBGPU_ADAPTER=software selects Dawn's OpenGL ES backend in compatibility mode, which on a
 * machine without a GPU runs on Mesa's llvmpipe: slow, but the same kernels, for tests and CI.
 *
 * Covered by test/trainer/webgpu/device.test.ts (on the software adapter, where one exists) and
 * test/e2e/train-webgpu.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { configError, MeapError } from '../../core/errors.ts';

export const SOFTWARE_ENV = 'MEAP_WEBGPU_ADAPTER';

/** What the loop asks of the GPU around each step. */
export interface GpuWatch {
  /** Runs `fn` inside error scopes; a GPU error in it, or one reported since the last check, throws one line. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** Throws if the device has reported an error outside any step (e.g. while reading a checkpoint). */
  check(): void;
  /** Bytes tfjs holds in GPU buffers now, pooled ones included. */
  bytes(): number;
}

const isSoftwareRequested = () => process.env[SOFTWARE_ENV] === 'software';

/** Limits worth asking for: the defaults (128 MiB bindings, 8 storage buffers) break real models. */
const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
] as const;

/**
 * Creates the device and registers tfjs's 'webgpu' backend on it. `hardwareOnly` (for `auto`) refuses
 * a software adapter. Throws a one-line config error saying why there is no usable adapter.
 */
export async function startWebgpu(hardwareOnly: boolean): Promise<{ detail: string; watch: GpuWatch; device: GPUDevice }> {
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (e) {
    throw configError(`the webgpu package (Dawn for Node) failed to load: ${firstLine(e)}`, 'reinstall with npm ci');
  }
  const software = isSoftwareRequested() && !hardwareOnly;
  // Without a Vulkan loader Dawn would only print warnings of its own before finding nothing.
  if (!software && process.platform === 'linux' && !hasVulkanLoader()) throw configError(`no WebGPU adapter: ${hardwareHint()}`);
  // EGL reads this when Dawn opens its display: no window system is needed for compute.
  if (software) process.env.EGL_PLATFORM ??= 'surfaceless';
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(software ? ['backend=opengles'] : []);
  const adapter = await gpu.requestAdapter(software ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions) : { powerPreference: 'high-performance' });
  if (adapter === null) throw configError(`no WebGPU adapter: ${software ? softwareHint() : hardwareHint()}`);
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ');
  if (hardwareOnly && (info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|softpipe/i.test(name))) {
    throw configError(`the WebGPU adapter is a software one (${name}), too slow to train on`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const key of LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const requiredFeatures = (['timestamp-query', 'shader-f16'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw configError(`the WebGPU adapter (${name}) refused a device: ${firstLine(e)}`);
  }

  // tfjs-backend-webgpu registers a backend of its own on import when navigator.gpu exists; ours,
  // on our device, replaces it.
  (globalThis as { navigator?: unknown }).navigator ??= {};
  (globalThis.navigator as { gpu?: GPU }).gpu = gpu;
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  const backend = new WebGPUBackend(device, info);
  tf.registerBackend('webgpu', () => backend, 0);
  if (!(await tf.setBackend('webgpu'))) throw configError(`tfjs could not start its webgpu backend on ${name}`);

  const watch = watchDevice(device);
  const limit = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(0)} GiB` : `${(n / (1 << 20)).toFixed(0)} MiB`);
  const detail = `webgpu on ${name || 'an unnamed adapter'}${software ? ' (software adapter, for tests)' : ''}; ${limit(device.limits.maxStorageBufferBindingSize)} per binding, ${device.limits.maxStorageBuffersPerShaderStage} storage buffers per stage`;
  return { detail, watch, device };
}

function watchDevice(device: GPUDevice): GpuWatch {
  let pending: string | null = null;
  device.addEventListener('uncapturederror', (ev) => {
    pending ??= describe((ev as GPUUncapturedErrorEvent).error);
  });
  void device.lost.then((lost) => {
    pending ??= `the GPU device was lost (${lost.reason}): ${lost.message}`;
  });
  const fail = (what: string) =>
    new MeapError('config', `${what}; the run stopped, and nothing computed after the error was kept`, {}, 'a smaller --micro-batch or --batch-size helps with memory; report other GPU errors as a bug');
  const check = () => {
    if (pending !== null) throw fail(pending);
  };
  return {
    async guard(fn) {
      check();
      const filters: GPUErrorFilter[] = ['out-of-memory', 'validation', 'internal'];
      for (const f of filters) device.pushErrorScope(f);
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn();
      } finally {
        const errors = await Promise.all(filters.map(() => device.popErrorScope()));
        const first = errors.find((e) => e !== null);
        if (first) pending ??= describe(first);
      }
      check();
      return result;
    },
    check,
    bytes: () => (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? 0,
  };
}

function describe(e: GPUError): string {
  const kind = e instanceof GPUOutOfMemoryError ? 'ran out of memory' : e instanceof GPUValidationError ? 'reported a validation error' : 'reported an internal error';
  return `the GPU ${kind}: ${e.message.split('\n')[0].trim()}`;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

const VULKAN_LOADER = 'libvulkan.so.1';

/** Whether the dynamic linker can find the Vulkan loader, as Dawn's dlopen would. */
function hasVulkanLoader(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib64',
    '/lib',
    '/usr/local/lib',
  ];
  if (dirs.some((d) => existsSync(path.join(d, VULKAN_LOADER)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(VULKAN_LOADER);
  } catch {
    return false;
  }
}

function hardwareHint(): string {
  if (process.platform === 'linux' && !hasVulkanLoader()) {
    return `no Vulkan loader (${VULKAN_LOADER}): apt-get install libvulkan1, plus your GPU driver's Vulkan ICD (on NVIDIA also libglvnd0 libglx0 libegl1)`;
  }
  const os = process.platform === 'darwin' ? 'Metal' : process.platform === 'win32' ? 'D3D12 or Vulkan' : 'Vulkan';
  return `${os} found no GPU; check the GPU driver${process.platform === 'linux' ? " and its Vulkan ICD (on NVIDIA the glvnd libraries libglvnd0 libglx0 libegl1 too; without them Vulkan finds no drivers)" : ''}, or train with --backend wasm`;
}

function softwareHint(): string {
  return `${SOFTWARE_ENV}=software needs Dawn's OpenGL ES backend on Mesa: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri`;
}
