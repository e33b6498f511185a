import { MeapError } from '../../core/errors.ts';

/** Whether input `i` (in run order) is partition `p`'s: input i belongs to partition i mod N. */
export const inPartition = (i: number, p: { index: number; of: number }) => i % p.of === p.index;

/** Partition from the flags, else from a Slurm job array or a Kubernetes Indexed Job. */
export function resolvePartition(flags: { numPartitions?: number; partition?: number }, env: NodeJS.ProcessEnv = process.env): { index: number; of: number } {
  let of = flags.numPartitions;
  let index = flags.partition;
  if (index === undefined && env.SLURM_ARRAY_TASK_ID !== undefined) {
    index = Number(env.SLURM_ARRAY_TASK_ID) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    of ??= Number(env.SLURM_ARRAY_TASK_COUNT);
  } else if (index === undefined && env.JOB_COMPLETION_INDEX !== undefined) {
    index = Number(env.JOB_COMPLETION_INDEX);
  }
  const counted = of !== undefined;
  of ??= 1;
  index ??= 0;
  if (!Number.isInteger(of) || of < 1) throw new MeapError('usage', `the number of partitions must be a whole number ≥ 1, got ${of}`, {}, 'pass --num-partitions N (SLURM_ARRAY_TASK_COUNT sets it in a job array)');
  if (!counted && Number.isInteger(index) && index >= of) {
    // Only the count is missing: say which, rather than that the index is out of 0..0.
    const from = flags.partition !== undefined ? '--partition' : 'JOB_COMPLETION_INDEX';
    throw new MeapError('usage', `${from} ${index} needs --num-partitions: without it there is 1 partition`, {}, `pass --num-partitions N, the number of partitions, with N > ${index}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= of) {
    throw new MeapError('usage', `partition ${index} is not in 0..${of - 1}`, {}, 'pass --partition I with 0 <= I < --num-partitions');
  }
  return { index, of };
}
