/** The run directory of `meap train`: a new run needs an empty one; `--resume` needs the model and data its checkpoint was trained with. */
import * as fs from 'node:fs/promises';
import { MeapError } from '../core/errors.ts';
import type { TrainConfig } from '../schemas/train.ts';
import { loadLatestCheckpoint, type CheckpointState } from './checkpoint.ts';

/** The checkpoint to resume from, or null for a fresh start. */
export async function openRunDir(cfg: TrainConfig, extra: Record<string, unknown>): Promise<CheckpointState | null> {
  const entries = await fs.readdir(cfg.out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw new MeapError('usage', `cannot use the run directory: ${e.code === 'ENOTDIR' ? 'it is a file' : (e.code ?? e.message)}`, { file: cfg.out }, 'choose another --out');
  });
  if (!cfg.resume) {
    if (entries.length > 0) {
      throw new MeapError('usage', 'the run directory is not empty', { file: cfg.out }, 'pass --resume to continue that run, or choose another --out');
    }
    await fs.mkdir(cfg.out, { recursive: true });
    return null;
  }
  await fs.mkdir(cfg.out, { recursive: true });
  const ckpt = await loadLatestCheckpoint(cfg.out);
  if (ckpt === null) return null;
  for (const key of ['init', 'model', 'vocabRows', 'tokenizerSha256', 'seed', 'batchSize'] as const) {
    // An absent key (no --init) reads as none.
    const was = JSON.stringify(ckpt.extra[key]) ?? 'none';
    const now = JSON.stringify(extra[key]) ?? 'none';
    if (was !== now) {
      throw new MeapError('usage', `--resume: the checkpoint was trained with ${key} ${was}, this command gives ${now}`, { file: cfg.out }, 'resume with the same settings, or start a new run');
    }
  }
  return ckpt;
}
