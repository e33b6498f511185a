import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { configError } from '../core/errors.ts';
import type { BackendChoice } from '../schemas/enums.ts';
import { startWebgpu, type GpuWatch } from './webgpu/device.ts';

type Concrete = Exclude<BackendChoice, 'auto'>;

/** The backend a run got: its name, a line describing it, and on WebGPU the watch on the device. */
export interface Backend {
  name: string;
  detail: string;
  gpu?: GpuWatch;
  /** The WebGPU device, shared by tfjs and the fast engine. */
  device?: GPUDevice;
  /** Bytes in GPU memory, on the GPU backends. */
  gpuBytes?: () => number;
}

const require = createRequire(import.meta.url);

/** Set once we have pointed the wasm backend at its binaries; tfjs refuses a second call after a failed init. */
let wasmPathsSet = false;
/** Each concrete backend is tried at most once per process: the result (or the reason it failed) is kept. */
const attempts = new Map<string, Promise<Backend>>();

const NATIVE_WHY =
  'its install downloads libtensorflow from storage.googleapis.com, which fails offline or behind a proxy';

/** Not a static import: the packages are optional, and a static specifier would fail to typecheck when absent. */
async function importOptional(pkg: string): Promise<void> {
  try {
    await import(pkg);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const msg = String(e.message ?? err);
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && msg.includes(pkg)) {
      throw configError(`the optional package ${pkg} is not installed: ${NATIVE_WHY}`);
    }
    // Installed but the native binding could not load (libtensorflow missing, CUDA/cuDNN absent, ABI mismatch).
    throw configError(`the optional package ${pkg} is installed but failed to load: ${firstLine(msg)}`);
  }
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? s;
}

async function activate(name: string): Promise<boolean> {
  if (tf.getBackend() === name) return true;
  // setBackend swallows init failures into a console warning and `false`; keep the console quiet.
  const warn = console.warn;
  console.warn = () => {};
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  } finally {
    console.warn = warn;
  }
}

async function loadNative(choice: 'gpu' | 'node'): Promise<Backend> {
  const pkg = choice === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  await importOptional(pkg);
  // The package registers 'tensorflow' on whichever @tensorflow/tfjs it resolved; a nested copy would
  // register it somewhere we never look.
  if (tf.findBackendFactory('tensorflow') == null) {
    throw configError(
      `${pkg} loaded but registered its backend with a different copy of @tensorflow/tfjs`,
      'make its @tensorflow/tfjs version match the top-level one (4.22) so npm dedupes them',
    );
  }
  if (!(await activate('tensorflow'))) {
    throw configError(`${pkg} loaded but its 'tensorflow' backend failed to initialise`);
  }
  // tfjs-node-gpu keeps every tensor in GPU memory.
  const gpuBytes = choice === 'gpu' ? () => tf.memory().numBytes : undefined;
  return { name: choice === 'gpu' ? 'gpu' : 'node', detail: `${pkg} (native libtensorflow)`, gpuBytes };
}

async function loadWasm(): Promise<Backend> {
  let wasmMod: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasmMod = await import('@tensorflow/tfjs-backend-wasm');
  } catch (err) {
    throw configError(`@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(String((err as Error).message ?? err))}`);
  }
  // In Node tfjs locates the .wasm files relative to the caller's script, not the package, so point it at dist/.
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  // Node: tfjs-wasm turns threads off (WASM_HAS_MULTITHREAD_SUPPORT is false under IS_NODE), so only the
  // plain and SIMD binaries can be picked.
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const binary = simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  if (!existsSync(path.join(dir, binary))) {
    throw configError(`the wasm backend needs ${binary}, which is missing from ${dir}`, 'reinstall @tensorflow/tfjs-backend-wasm');
  }
  if (!wasmPathsSet) {
    wasmMod.setWasmPaths(dir + path.sep);
    wasmPathsSet = true;
  }
  if (!(await activate('wasm'))) {
    throw configError(`the wasm backend failed to initialise from ${path.join(dir, binary)}`);
  }
  return { name: 'wasm', detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, single-threaded: tfjs disables wasm threads in Node)` };
}

async function loadCpu(): Promise<Backend> {
  if (!(await activate('cpu'))) throw configError('the cpu backend failed to initialise');
  // The cpu backend prints an "install tfjs-node" banner on first use; our log already says why
  // the faster backends were skipped, and the banner would interleave with the progress bar.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { name: 'cpu', detail: 'cpu (plain JavaScript kernels)' };
}

async function loadWebgpu(hardwareOnly: boolean): Promise<Backend> {
  const { detail, watch, device } = await startWebgpu(hardwareOnly);
  return { name: 'webgpu', detail, gpu: watch, device, gpuBytes: watch.bytes };
}

/** `hardwareOnly`: auto never trains on a software WebGPU adapter. */
function load(choice: Concrete, hardwareOnly: boolean): Promise<Backend> {
  const key = choice === 'webgpu' && hardwareOnly ? 'webgpu (hardware)' : choice;
  let p = attempts.get(key);
  if (p === undefined) {
    p =
      choice === 'gpu' || choice === 'node'
        ? loadNative(choice)
        : choice === 'webgpu'
          ? loadWebgpu(hardwareOnly)
          : choice === 'wasm'
            ? loadWasm()
            : loadCpu();
    attempts.set(key, p);
  }
  return p;
}

/** After the first load, later calls only switch tfjs back to the backend (another caller may have moved it). */
async function loadAndActivate(choice: Concrete, hardwareOnly = false): Promise<Backend> {
  const r = await load(choice, hardwareOnly);
  const tfName = choice === 'gpu' || choice === 'node' ? 'tensorflow' : choice;
  if (!(await activate(tfName))) throw configError(`the ${choice} backend could not be re-selected`);
  return r;
}

/**
 * Makes tfjs use the requested backend. 'auto' takes the fastest that loads (native GPU, WebGPU on a
 * hardware adapter, native CPU, wasm, plain JS); a named one must load or this throws a one-line
 * config error saying why.
 */
export async function selectBackend(choice: BackendChoice): Promise<Backend> {
  if (choice !== 'auto') return loadAndActivate(choice);
  const skipped: string[] = [];
  for (const c of ['gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const) {
    try {
      const r = await loadAndActivate(c, true);
      // The first line a run prints: the reasons are one --backend NAME away, not in it.
      const why = skipped.length ? `; skipped ${skipped.map((x) => x.split(':')[0]).join(', ')}: --backend NAME says why` : '';
      return { ...r, detail: `${r.detail}${why}` };
    } catch (err) {
      skipped.push(`${c}: ${(err as Error).message}`);
    }
  }
  throw configError(`no tfjs backend could be loaded (${skipped.join('; ')})`);
}
