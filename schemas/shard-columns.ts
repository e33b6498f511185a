/**
 * The three columns every shard holds, in this order, each List<Int32>. No zod here: unit worker
 * threads write shards and load no zod.
 *
 * Covered by test/schemas/manifest.test.ts (the names and order), test/datasets/shards/stream.test.ts
 * (the schema message they produce) and test/e2e/shard-format.test.ts (pyarrow reads them back).
 */
export const SHARD_COLUMNS = ['input_ids', 'labels', 'position_ids'] as const;
export type ShardColumn = (typeof SHARD_COLUMNS)[number];
