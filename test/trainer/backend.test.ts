/**
 * Backend selection with what this machine has: cpu and wasm ship with meap; the native backends
 * come from optional packages (@tensorflow/tfjs-node, -node-gpu) that npm drops where libtensorflow
 * cannot be downloaded. A named backend must load or fail as one line saying why; `auto` takes the
 * first that loads and says what it skipped.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { selectBackend } from '../../trainer/backend.ts';
import type { BackendChoice } from '../../schemas/enums.ts';

const GPU = '@tensorflow/tfjs-node-gpu';
const NODE = '@tensorflow/tfjs-node';
/** npm installs optional packages where libtensorflow can be downloaded: there these tests do not apply. */
function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const noNative = !installed(GPU) && !installed(NODE);

async function refusal(choice: BackendChoice): Promise<MeapError> {
  const e = await selectBackend(choice).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  const m = e as MeapError;
  expect(m.kind).toBe('config');
  expect(m.message).not.toContain('\n');
  return m;
}

describe('selectBackend', () => {
  afterAll(async () => {
    await selectBackend('cpu');
  });

  it('cpu loads and reports its name; tfjs then runs on it', async () => {
    const r = await selectBackend('cpu');
    expect(r.name).toBe('cpu');
    expect(r.detail).toContain('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0])).toBe(5);
  });

  it.runIf(noNative)('gpu and node fail with one line saying the optional package is not installed, and leave the backend alone', async () => {
    await selectBackend('cpu');
    const gpu = await refusal('gpu');
    expect(gpu.message).toContain(`the optional package ${GPU} is not installed`);
    const node = await refusal('node');
    expect(node.message).toContain(`the optional package ${NODE} is not installed`);
    expect(node.message).not.toContain('-gpu');
    expect(tf.getBackend()).toBe('cpu');
    // A second try gives the same answer rather than a different error from a half-done first one.
    expect((await refusal('gpu')).message).toBe(gpu.message);
  });

  it.runIf(noNative)('auto falls back past the missing native packages, and its short detail names what it skipped', async () => {
    const r = await selectBackend('auto');
    expect(['wasm', 'cpu']).toContain(r.name);
    expect(tf.getBackend()).toBe(r.name);
    // The first line of a run: names only; `--backend NAME` gives the reason (refusal(), above).
    expect(r.detail).toMatch(/; skipped gpu, webgpu, node(, wasm)?: --backend NAME says why$/);
    expect(r.detail).not.toContain(GPU);
    expect(r.detail.length).toBeLessThan(120);
    // wasm ships with meap: it is skipped only if it cannot start.
    expect(r.detail.includes(', wasm:')).toBe(r.name === 'cpu');
  });

  it('switches back to a backend loaded earlier', async () => {
    await selectBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect((await selectBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await selectBackend('wasm')).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});
