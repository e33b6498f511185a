/**
 * `meap train --backend webgpu` end to end through the CLI, on Dawn's software adapter
 * (MEAP_WEBGPU_ADAPTER=software), with the hand-written engine: the tiny model's losses match the cpu
 * backend's within 1e-4 for 3 steps, a run resumes from its GPU checkpoints, and without any adapter
 * the command says why in one line and exits 2. The adapter tests are skipped, saying why, where Mesa's EGL/GLES libraries are missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { llama2, meap, meapAsync, readJsonl, slimpajama, tempDir } from '../helpers/cli.ts';

// llvmpipe would take every core for itself; CI's two are shared with the other test files.
const SOFTWARE = { MEAP_WEBGPU_ADAPTER: 'software', LP_NUM_THREADS: '1' };

/** Whether Dawn's OpenGL ES backend can open Mesa here: the libraries .ci/run installs. */
const MESA = ['libEGL.so.1', 'libGLESv2.so.2', 'libEGL_mesa.so.0'];
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
const missing = MESA.filter((lib) => !libDirs.some((d) => fs.existsSync(path.join(d, lib))));
if (missing.length > 0) console.warn(`WebGPU software-adapter tests skipped: ${missing.join(', ')} not found (apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)`);
const itSoftware = missing.length > 0 ? it.skip : it;

const losses = (run: string) => readJsonl(path.join(run, 'metrics.jsonl')).map((m) => m.loss as number);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('meap train --backend webgpu', () => {
  let shards: string;
  let gpuRun: string;
  beforeAll(() => {
    shards = path.join(tempDir(), 'shards');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '-o', shards, '-t', llama2, '--seq-len', '128', '--limit', '40', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
  });

  const args = (out: string, backend: string, extra: string[] = []) => [
    'train', '--data', shards, '--out', out, '--model', 'tiny', '--steps', '3', '--batch-size', '2', '--backend', backend,
    '--checkpoint-every', '1', '--progress', 'none', ...extra,
  ];

  itSoftware('trains the tiny model on the software adapter, its losses within 1e-4 of cpu for 3 steps', async () => {
    const cpuRun = path.join(tempDir(), 'cpu');
    gpuRun = path.join(tempDir(), 'gpu');
    const [cpu, gpu] = await Promise.all([meapAsync(args(cpuRun, 'cpu')), meapAsync(args(gpuRun, 'webgpu'), SOFTWARE)]);
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(gpu.stderr).toMatch(/meap train: backend webgpu \(webgpu on .*software adapter/);
    const [a, b] = [losses(gpuRun), losses(cpuRun)];
    expect(a).toHaveLength(3);
    a.forEach((l, i) => expect(rel(l, b[i]), `step ${i + 1}: webgpu ${l}, cpu ${b[i]}`).toBeLessThan(1e-4));
    // The GPU's memory in use is part of each step's metrics there, and only there.
    for (const m of readJsonl(path.join(gpuRun, 'metrics.jsonl'))) expect(m.gpuBytes).toBeGreaterThan(0);
    for (const m of readJsonl(path.join(cpuRun, 'metrics.jsonl'))) expect(m).not.toHaveProperty('gpuBytes');
  });

  itSoftware('resumes a webgpu run from the checkpoint of its step 2 to the same step-3 loss', () => {
    expect(gpuRun, 'the previous test made the run').toBeDefined();
    const resumed = path.join(tempDir(), 'resumed');
    fs.cpSync(gpuRun, resumed, { recursive: true });
    fs.rmSync(path.join(resumed, 'checkpoints', 'step-00000003'), { recursive: true });
    const r = meap(args(resumed, 'webgpu', ['--resume']), SOFTWARE);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('resumed from step 2');
    const [again, first] = [losses(resumed), losses(gpuRun)];
    expect(again).toHaveLength(3);
    expect(rel(again[2], first[2])).toBeLessThan(1e-6);
  });

  it('refuses --precision mixed where there is no WebGPU engine, in one line', () => {
    const r = meap(args(path.join(tempDir(), 'mixed'), 'cpu', ['--precision', 'mixed']));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').pop()).toBe('meap: error: --precision mixed needs the WebGPU engine (--backend webgpu) (drop --precision, or train with --backend webgpu)');
  });

  it('without any adapter says why in one line and exits 2', () => {
    const out = path.join(tempDir(), 'none');
    // No Vulkan driver can be found: what a machine without a GPU (or without its ICD) sees.
    const r = meap(args(out, 'webgpu'), { MEAP_WEBGPU_ADAPTER: '', VK_DRIVER_FILES: '/nonexistent.json', VK_ICD_FILENAMES: '/nonexistent.json' });
    expect(r.code).toBe(2);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('meap:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/^meap: error: no WebGPU adapter: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(out, 'metrics.jsonl'))).toBe(false);
  });
});
