/**
 * `state.json` and `dataset_info.json`: what Hugging Face `datasets.load_from_disk` reads beside the
 * shards, in the shape `Dataset.save_to_disk` writes for one split (datasets 4.0 to 5.0.1). Key order
 * is the order datasets writes: `state.json` with sorted keys, `dataset_info.json` with its top level
 * sorted and everything below in dataclass field order.
 *
 * Covered by test/pipeline/hf-dataset.test.ts.
 */
import { z } from 'zod';
import { SHARD_COLUMNS, type ShardColumn } from './shard-columns.ts';
import { Count, RelativePath } from './primitives.ts';

/** `List(Value("int32"))` as `datasets.utils.py_utils.asdict` gives it: fields at their defaults are left out. */
const Int32List = z.strictObject({
  feature: z.strictObject({ dtype: z.literal('int32'), _type: z.literal('Value') }),
  _type: z.literal('List'),
});

export const HfDatasetInfoSchema = z.strictObject({
  citation: z.string(),
  description: z.string(),
  features: z.strictObject(Object.fromEntries(SHARD_COLUMNS.map((c) => [c, Int32List])) as Record<ShardColumn, typeof Int32List>),
  homepage: z.string(),
  license: z.string(),
  splits: z.strictObject({
    // SplitInfo writes name, num_bytes, num_examples and dataset_name even at their defaults.
    train: z.strictObject({ name: z.literal('train'), num_bytes: Count, num_examples: Count, dataset_name: z.null() }),
  }),
});
export type HfDatasetInfo = z.infer<typeof HfDatasetInfoSchema>;

export const HfStateSchema = z.strictObject({
  _data_files: z.array(z.strictObject({ filename: RelativePath })),
  /** 16 hex digits, the length of datasets' own xxhash64 fingerprints, which name its cache files. */
  _fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  _format_columns: z.null(),
  _format_kwargs: z.strictObject({}),
  _format_type: z.null(),
  _output_all_columns: z.literal(false),
  _split: z.literal('train'),
});
export type HfState = z.infer<typeof HfStateSchema>;
