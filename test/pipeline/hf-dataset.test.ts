import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/hash.ts';
import { readManifest } from '../../datasets/shards/read.ts';
import { DATASET_INFO, DATASET_STATE, hfDatasetFiles } from '../../pipeline/hf-dataset.ts';
import { HfDatasetInfoSchema, HfStateSchema } from '../../schemas/hf-dataset.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { SHARD_COLUMNS } from '../../schemas/shard-columns.ts';
import { prepareDir } from './helpers.ts';

let dir: string;
let manifest: Manifest;
beforeAll(async () => {
  dir = prepareDir(['--shard-rows', '3']);
  manifest = await readManifest(dir);
});

const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');

/**
 * What `Dataset.save_to_disk` (datasets 4.0 to 5.0.1) writes for one split of these three columns:
 * `json.dump(state, indent=2, sort_keys=True)`, and `asdict(info)` with its top level sorted. Written
 * out by hand from that code, not from ours.
 */
const list = `{
      "feature": {
        "dtype": "int32",
        "_type": "Value"
      },
      "_type": "List"
    }`;
const EXPECTED_INFO = `{
  "citation": "",
  "description": "",
  "features": {
    "input_ids": ${list},
    "labels": ${list},
    "position_ids": ${list}
  },
  "homepage": "",
  "license": "",
  "splits": {
    "train": {
      "name": "train",
      "num_bytes": 216,
      "num_examples": 3,
      "dataset_name": null
    }
  }
}`;
const EXPECTED_STATE = `{
  "_data_files": [
    {
      "filename": "part-a-00000.arrow"
    },
    {
      "filename": "part-b-00000.arrow"
    }
  ],
  "_fingerprint": "e3b0c44298fc1c14",
  "_format_columns": null,
  "_format_kwargs": {},
  "_format_type": null,
  "_output_all_columns": false,
  "_split": "train"
}`;

describe('hfDatasetFiles', () => {
  it('writes what datasets writes, byte for byte, from the manifest alone', () => {
    const shard = { input: 'a.jsonl', maskedTokens: 0, sha256: '0'.repeat(64) };
    const m = structuredClone(manifest);
    m.shards = [
      { ...shard, file: 'part-a-00000.arrow', rows: 2, tokens: 10 },
      { ...shard, file: 'part-b-00000.arrow', rows: 1, tokens: 3 },
    ];
    m.totals.rows = 3;
    // num_bytes: 3 columns × 4 bytes × (rows + 1 offsets + tokens values), per shard: 12 × 13 + 12 × 5.
    // The fingerprint is the first 16 hex digits of the manifest bytes' sha256; of no bytes here.
    expect(hfDatasetFiles(m, '')).toEqual({ [DATASET_INFO]: EXPECTED_INFO, [DATASET_STATE]: EXPECTED_STATE });
  });

  it('holds every key load_from_disk reads, and only DatasetInfo fields', () => {
    const state = JSON.parse(read(DATASET_STATE));
    for (const key of ['_data_files', '_fingerprint', '_format_columns', '_format_kwargs', '_format_type', '_output_all_columns', '_split']) expect(state).toHaveProperty(key);
    // DatasetInfo.from_dict keeps the keys that are its dataclass fields and drops the rest silently.
    const fields = ['description', 'citation', 'homepage', 'license', 'features', 'post_processed', 'supervised_keys', 'builder_name', 'dataset_name', 'config_name', 'version', 'splits', 'download_checksums', 'download_size', 'post_processing_size', 'dataset_size', 'size_in_bytes'];
    for (const key of Object.keys(JSON.parse(read(DATASET_INFO)))) expect(fields).toContain(key);
  });
});

describe('a prepared directory', () => {
  it('holds both files, as the manifest gives them and in the shapes datasets expects', () => {
    const text = read('manifest.json');
    expect(read(DATASET_INFO)).toBe(hfDatasetFiles(manifest, text)[DATASET_INFO]);
    expect(read(DATASET_STATE)).toBe(hfDatasetFiles(manifest, text)[DATASET_STATE]);
    const info = HfDatasetInfoSchema.parse(JSON.parse(read(DATASET_INFO)));
    const state = HfStateSchema.parse(JSON.parse(read(DATASET_STATE)));
    expect(Object.keys(info.features)).toEqual([...SHARD_COLUMNS]);
    expect(info.splits.train.num_examples).toBe(manifest.totals.rows);
    expect(manifest.shards.length).toBeGreaterThan(1);
    expect(state._data_files).toEqual(manifest.shards.map((s) => ({ filename: s.file })));
    expect(state._fingerprint).toBe(sha256Hex(text).slice(0, 16));
  });

  it('is byte-identical when prepared again elsewhere', () => {
    const again = prepareDir(['--shard-rows', '3']);
    for (const name of [DATASET_INFO, DATASET_STATE]) expect(fs.readFileSync(path.join(again, name), 'utf8')).toBe(read(name));
  });
});

describe('the schemas', () => {
  it('refuse what datasets would not write for these columns', () => {
    const info = JSON.parse(read(DATASET_INFO));
    const state = JSON.parse(read(DATASET_STATE));
    const refused = (schema: typeof HfStateSchema | typeof HfDatasetInfoSchema, base: object, edit: (x: any) => void) => {
      const x = structuredClone(base);
      edit(x);
      return !schema.safeParse(x).success;
    };
    expect(refused(HfDatasetInfoSchema, info, (x) => (x.features.labels._type = 'Sequence'))).toBe(true);
    expect(refused(HfDatasetInfoSchema, info, (x) => (x.features.labels.feature.dtype = 'int64'))).toBe(true);
    expect(refused(HfDatasetInfoSchema, info, (x) => (x.features.labels.length = -1))).toBe(true);
    expect(refused(HfDatasetInfoSchema, info, (x) => delete x.features.position_ids)).toBe(true);
    expect(refused(HfDatasetInfoSchema, info, (x) => (x.splits = { validation: x.splits.train }))).toBe(true);
    expect(refused(HfDatasetInfoSchema, info, (x) => delete x.splits.train.dataset_name)).toBe(true);
    expect(refused(HfStateSchema, state, (x) => (x._split = 'validation'))).toBe(true);
    expect(refused(HfStateSchema, state, (x) => (x._format_type = 'torch'))).toBe(true);
    expect(refused(HfStateSchema, state, (x) => (x._fingerprint = 'abc'))).toBe(true);
    expect(refused(HfStateSchema, state, (x) => (x._data_files = [{ filename: '../x.arrow' }]))).toBe(true);
  });
});
