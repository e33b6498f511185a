/** The three columns every shard holds, in this order, each List<Int32>. No zod here: unit worker threads write shards and load no zod. */
export const SHARD_COLUMNS = ['input_ids', 'labels', 'position_ids'] as const;
export type ShardColumn = (typeof SHARD_COLUMNS)[number];
