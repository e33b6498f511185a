import { describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { resolvePartition } from '../../../pipeline/workstate/partition.ts';

const slurm = (id: string, min: string | undefined, count: string | undefined): NodeJS.ProcessEnv => ({
  SLURM_ARRAY_TASK_ID: id,
  ...(min === undefined ? {} : { SLURM_ARRAY_TASK_MIN: min }),
  ...(count === undefined ? {} : { SLURM_ARRAY_TASK_COUNT: count }),
});

function refusal(flags: Parameters<typeof resolvePartition>[0], env: NodeJS.ProcessEnv = {}): string {
  let e: unknown = null;
  try {
    resolvePartition(flags, env);
  } catch (err) {
    e = err;
  }
  expect(e).toBeInstanceOf(MeapError);
  expect((e as MeapError).kind).toBe('usage');
  expect((e as MeapError).message).not.toContain('\n');
  return (e as MeapError).message;
}

describe('resolvePartition', () => {
  it('is the whole run without flags or a scheduler', () => {
    expect(resolvePartition({}, {})).toEqual({ index: 0, of: 1 });
  });

  it('takes --num-partitions and --partition as given', () => {
    expect(resolvePartition({ numPartitions: 4, partition: 3 }, {})).toEqual({ index: 3, of: 4 });
    expect(resolvePartition({ numPartitions: 4 }, {})).toEqual({ index: 0, of: 4 });
  });

  it('reads a Slurm job array, counting from its first task id', () => {
    expect(resolvePartition({}, slurm('6', '5', '2'))).toEqual({ index: 1, of: 2 });
    expect(resolvePartition({}, slurm('2', undefined, '3'))).toEqual({ index: 2, of: 3 });
  });

  it('reads a Kubernetes Indexed Job, whose size comes from --num-partitions', () => {
    expect(resolvePartition({ numPartitions: 3 }, { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, of: 3 });
  });

  it('lets the flags win over the environment', () => {
    expect(resolvePartition({ numPartitions: 8, partition: 1 }, slurm('6', '5', '2'))).toEqual({ index: 1, of: 8 });
    expect(resolvePartition({ numPartitions: 8 }, slurm('6', '5', '2'))).toEqual({ index: 1, of: 8 });
    expect(resolvePartition({ numPartitions: 2, partition: 0 }, { JOB_COMPLETION_INDEX: '1' })).toEqual({ index: 0, of: 2 });
    // Slurm is read before Kubernetes.
    expect(resolvePartition({}, { ...slurm('1', '0', '2'), JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, of: 2 });
  });

  it('refuses a partition count below one, or not a whole number, in one line', () => {
    expect(refusal({ numPartitions: 0 })).toMatch(/the number of partitions must be a whole number ≥ 1, got 0 .*--num-partitions/);
    expect(refusal({ numPartitions: 1.5 })).toContain('got 1.5');
    // A job array without its count cannot say how many partitions there are.
    expect(refusal({}, slurm('0', '0', undefined))).toContain('the number of partitions must be a whole number');
  });

  it('refuses a partition outside 0..N-1, in one line', () => {
    expect(refusal({ numPartitions: 2, partition: 2 })).toMatch(/partition 2 is not in 0\.\.1 .*--partition I/);
    expect(refusal({}, slurm('9', '5', '2'))).toContain('partition 4 is not in 0..1');
    expect(refusal({ numPartitions: 2 }, { JOB_COMPLETION_INDEX: 'x' })).toMatch(/partition \S+ is not in 0\.\.1/);
  });

  it('names --num-partitions when only the count is missing', () => {
    expect(refusal({ partition: 1 })).toBe('--partition 1 needs --num-partitions: without it there is 1 partition (pass --num-partitions N, the number of partitions, with N > 1)');
    expect(refusal({}, { JOB_COMPLETION_INDEX: '3' })).toMatch(/^JOB_COMPLETION_INDEX 3 needs --num-partitions/);
    // Inside a Slurm array, a --partition flag does not take the array's count.
    expect(refusal({ partition: 2 }, slurm('0', '0', '4'))).toMatch(/^--partition 2 needs --num-partitions/);
  });
});
