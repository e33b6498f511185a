/**
 * Checkpoints: bitwise round trips, pruning to keepLast, and recovery from what a crash or a bad
 * disk leaves behind (a .tmp-* directory, a corrupt or truncated blob, a SIGKILL mid-save).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadLatestCheckpoint, saveCheckpoint, type CheckpointState } from '../../trainer/checkpoint.ts';
import { repoRoot, tempDir } from '../helpers/cli.ts';

/** Deterministic tensors per step, including bit patterns a float round trip could lose. */
function makeState(step: number, scale = 1): CheckpointState {
  let x = (step * 2654435761) >>> 0 || 1;
  const rand = (n: number) => {
    const a = new Float32Array(n);
    const bits = new Uint32Array(a.buffer);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bits[i] = x >>> 0;
    }
    return a;
  };
  const special = new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4028234663852886e38]);
  const nanPayload = new Uint32Array(special.buffer);
  nanPayload[4] = 0x7fc12345;
  const shapes: [string, number[]][] = [
    ['embed', [64 * scale, 8]],
    ['layers.0.attn.q', [8, 8]],
    ['norm', [8]],
    ['scalar', []],
  ];
  const params = shapes.map(([name, shape]) => ({ name, shape, data: rand(shape.reduce((a, b) => a * b, 1)) }));
  params[1].data.set(special);
  return {
    step,
    params,
    optimizer: { step, m: params.map((p) => rand(p.data.length)), v: params.map((p) => rand(p.data.length)) },
    cursor: { epoch: step % 3, window: step % 7, offset: step * 5 },
    extra: { model: 'tiny', shape: { layers: 2, hidden: 64 }, rng: [1, 2, 3, 4], note: 'ünïcode', nested: { a: [null, true, 1.5] } },
  };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function expectBitwise(got: CheckpointState | null, want: CheckpointState): void {
  expect(got).not.toBeNull();
  const g = got!;
  expect(g.step).toBe(want.step);
  expect(g.cursor).toEqual(want.cursor);
  expect(g.extra).toEqual(want.extra);
  expect(g.optimizer.step).toBe(want.optimizer.step);
  expect(g.params.map((p) => [p.name, p.shape])).toEqual(want.params.map((p) => [p.name, p.shape]));
  g.params.forEach((p, i) => {
    expect(p.data).toBeInstanceOf(Float32Array);
    expect(bits(p.data)).toEqual(bits(want.params[i].data));
  });
  for (const k of ['m', 'v'] as const) {
    expect(g.optimizer[k]).toHaveLength(want.optimizer[k].length);
    g.optimizer[k].forEach((t, i) => expect(bits(t)).toEqual(bits(want.optimizer[k][i])));
  }
}

const ckptDir = (run: string) => path.join(run, 'checkpoints');
const listing = (run: string) => fs.readdirSync(ckptDir(run)).sort();

function captureStderr() {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { text: () => lines.join(''), restore: () => spy.mockRestore() };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('checkpoints', () => {
  it('round-trips bitwise, in the documented layout', async () => {
    const run = tempDir('meap-ckpt-');
    const state = makeState(123);
    const dir = await saveCheckpoint(run, state, 3);
    expect(dir).toBe(path.join(run, 'checkpoints', 'step-00000123'));
    expect(fs.readdirSync(dir).sort()).toEqual(['state.json', 'tensors.bin']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    expect(json).toMatchObject({ step: 123, cursor: state.cursor, extra: state.extra, tensors: { file: 'tensors.bin' } });
    const values = [...state.params.map((p) => p.data), ...state.optimizer.m, ...state.optimizer.v].reduce((n, t) => n + t.length, 0);
    expect(fs.statSync(path.join(dir, 'tensors.bin')).size).toBe(values * 4);
    // params first, float32 little-endian at the recorded offset
    const blob = fs.readFileSync(path.join(dir, 'tensors.bin'));
    const q = json.params[1];
    expect(blob.readUInt32LE(q.offset + 4 * 4)).toBe(0x7fc12345);
    expect(json.optimizer.m[0].offset).toBe(state.params.reduce((n, p) => n + p.data.length * 4, 0));
    expectBitwise(await loadLatestCheckpoint(run), state);
  });

  it('returns null when there is no checkpoint', async () => {
    const run = tempDir('meap-ckpt-');
    expect(await loadLatestCheckpoint(run)).toBeNull();
    fs.mkdirSync(ckptDir(run));
    expect(await loadLatestCheckpoint(run)).toBeNull();
  });

  it('keeps only the newest keepLast checkpoints and loads the highest step', async () => {
    const run = tempDir('meap-ckpt-');
    for (const step of [1, 2, 3, 10, 200]) await saveCheckpoint(run, makeState(step), 2);
    expect(listing(run)).toEqual(['step-00000010', 'step-00000200']);
    expectBitwise(await loadLatestCheckpoint(run), makeState(200));
    await saveCheckpoint(run, makeState(100_000_000), 1); // past eight digits: ordered by number, not name
    expect(listing(run)).toEqual(['step-100000000']);
    expectBitwise(await loadLatestCheckpoint(run), makeState(100_000_000));
  });

  it('ignores and removes a leftover .tmp directory from an interrupted save', async () => {
    const run = tempDir('meap-ckpt-');
    await saveCheckpoint(run, makeState(5), 3);
    const tmp = path.join(ckptDir(run), '.tmp-step-00000006-999-abcd');
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(tmp, 'tensors.bin'), Buffer.alloc(100));
    expectBitwise(await loadLatestCheckpoint(run), makeState(5));
    expect(listing(run)).toEqual(['step-00000005']);
  });

  it('skips a corrupt, truncated or half-written checkpoint for the previous complete one, and says so', async () => {
    const damage: [string, (dir: string) => void][] = [
      ['flipped bit', (d) => {
        const f = path.join(d, 'tensors.bin');
        const b = fs.readFileSync(f);
        b[b.length >> 1] ^= 0x10;
        fs.writeFileSync(f, b);
      }],
      ['truncated blob', (d) => fs.truncateSync(path.join(d, 'tensors.bin'), 40)],
      ['missing state', (d) => fs.rmSync(path.join(d, 'state.json'))],
      ['garbled state', (d) => fs.writeFileSync(path.join(d, 'state.json'), '{"step": 2')],
    ];
    for (const [what, hurt] of damage) {
      const run = tempDir('meap-ckpt-');
      await saveCheckpoint(run, makeState(1), 5);
      const bad = await saveCheckpoint(run, makeState(2), 5);
      hurt(bad);
      const err = captureStderr();
      let got: CheckpointState | null;
      try {
        got = await loadLatestCheckpoint(run);
      } finally {
        err.restore();
      }
      expectBitwise(got, makeState(1));
      expect(err.text(), what).toContain('step-00000002');
    }
  });

  it('counts only complete checkpoints toward keepLast, and replaces a corrupt one of the same step', async () => {
    const run = tempDir('meap-ckpt-');
    for (const step of [1, 2, 3]) await saveCheckpoint(run, makeState(step), 2);
    fs.truncateSync(path.join(ckptDir(run), 'step-00000003', 'tensors.bin'), 8);
    const err = captureStderr();
    try {
      // Resumed from step 2; step 3 is saved again over its corrupt predecessor.
      await saveCheckpoint(run, makeState(3, 2), 2);
    } finally {
      err.restore();
    }
    expect(listing(run)).toEqual(['step-00000002', 'step-00000003']);
    expectBitwise(await loadLatestCheckpoint(run), makeState(3, 2));

    // A newer corrupt one does not count: the two newest complete ones stay.
    fs.writeFileSync(path.join(ckptDir(run), 'step-00000003', 'state.json'), 'nope');
    const err2 = captureStderr();
    try {
      await saveCheckpoint(run, makeState(4), 2);
    } finally {
      err2.restore();
    }
    expect(err2.text()).toContain('step-00000003');
    expect(listing(run)).toEqual(['step-00000002', 'step-00000004']);
  });

  it('survives SIGKILL at any point of a save', async () => {
    const run = tempDir('meap-ckpt-');
    const script = path.join(tempDir('meap-ckpt-child-'), 'child.mts');
    // The child saves ever larger checkpoints in a loop until it is killed.
    fs.writeFileSync(
      script,
      `import { saveCheckpoint } from ${JSON.stringify(path.join(repoRoot, 'trainer/checkpoint.ts'))};
       const big = new Float32Array(4 << 20);
       for (let i = 0; i < big.length; i++) big[i] = i;
       for (let step = 1; ; step++) {
         big[0] = step;
         await saveCheckpoint(process.argv[2], { step, params: [{ name: 'w', shape: [big.length], data: big }], optimizer: { step, m: [big], v: [big] }, cursor: { epoch: 0, window: 0, offset: step }, extra: {} }, 2);
         if (step === 2) process.stdout.write('ready\\n');
       }`,
    );
    for (const delay of [0, 37, 91]) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, run], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => setTimeout(() => child.kill('SIGKILL'), delay));
        child.on('exit', () => resolve());
        child.on('error', reject);
      });
      const got = await loadLatestCheckpoint(run);
      expect(got).not.toBeNull();
      expect(got!.step).toBeGreaterThanOrEqual(1);
      expect(got!.params[0].data[0]).toBe(got!.step);
      expect(got!.params[0].data[123]).toBe(123);
      expect(got!.cursor.offset).toBe(got!.step);
      expect(listing(run).some((n) => n.startsWith('.tmp-'))).toBe(false);
      fs.rmSync(run, { recursive: true });
      fs.mkdirSync(run);
    }
  });
});
