/**
 * `dataset_info.json` and `state.json`, which make a finished directory a Hugging Face `datasets`
 * dataset of one split (`load_from_disk(DIR)`). Both are pure functions of the manifest, so they are
 * byte-identical wherever the manifest is, and `verify` can re-derive them.
 */
import { sha256Hex } from '../core/hash.ts';
import { HfDatasetInfoSchema, HfStateSchema } from '../schemas/hf-dataset.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { SHARD_COLUMNS } from '../schemas/shard-columns.ts';

export const DATASET_INFO = 'dataset_info.json';
export const DATASET_STATE = 'state.json';

/**
 * The cache files `datasets` writes beside the data it loaded from disk (`cache-<fingerprint>.arrow`,
 * with `_00000_of_00004` per process): `map`, `filter` and `shuffle` on a `load_from_disk` dataset
 * put them in the meap directory. They derive from the shards, so meap names them and leaves them be,
 * never reading them as shards nor failing on them.
 */
export const isHfCacheFile = (name: string) => /^cache-[\w.-]+\.arrow$/.test(name);

/** The two files by name, from the manifest and the exact bytes of manifest.json (for the fingerprint). */
export function hfDatasetFiles(manifest: Manifest, manifestText: string): Record<typeof DATASET_INFO | typeof DATASET_STATE, string> {
  const info = HfDatasetInfoSchema.parse({
    citation: '',
    description: '',
    features: Object.fromEntries(SHARD_COLUMNS.map((c) => [c, { feature: { dtype: 'int32', _type: 'Value' }, _type: 'List' }])),
    homepage: '',
    license: '',
    splits: { train: { name: 'train', num_bytes: columnBytes(manifest), num_examples: manifest.totals.rows, dataset_name: null } },
  });
  const state = HfStateSchema.parse({
    _data_files: manifest.shards.map((s) => ({ filename: s.file })),
    _fingerprint: sha256Hex(manifestText).slice(0, 16),
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: 'train',
  });
  // Python's json.dump(obj, f, indent=2) lays out as JSON.stringify(obj, null, 2) does, with no final
  // newline; its ASCII escaping never applies, as every string here is ASCII.
  return { [DATASET_INFO]: JSON.stringify(info, null, 2), [DATASET_STATE]: JSON.stringify(state, null, 2) };
}

/** The split's Arrow data size, `num_bytes` in datasets: each column's int32 offsets (rows + 1) and values, per shard. */
function columnBytes(m: Manifest): number {
  return m.shards.reduce((sum, s) => sum + SHARD_COLUMNS.length * 4 * (s.rows + 1 + s.tokens), 0);
}
