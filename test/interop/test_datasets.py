"""Hugging Face `datasets` opens what `meap prepare` writes, row for row as meap reads it."""
import shutil
import subprocess

import pyarrow as pa
import pytest
import torch
from datasets import load_dataset, load_from_disk
from torch.utils.data import DataLoader

from conftest import ALPACA, CHUNK0, CHUNK1, LLAMA2, ROOT, manifest, meap, meap_rows

PRETRAIN = [CHUNK0, CHUNK1, "-t", LLAMA2, "--seq-len", "128"]
SFT = [ALPACA, "--mode", "sft", "-t", LLAMA2, "--seq-len", "512"]

VARIANTS = {
    "random": PRETRAIN,
    "span5": [*PRETRAIN, "--mask", "span"],
    "span50": [*PRETRAIN[:-1], "512", "--mask", "span", "--span-length", "50"],
    "none": [*PRETRAIN, "--mask", "none"],
    "sft-concat": SFT,
    "sft-separate": [*SFT, "--sft-layout", "separate"],
    "sft-concat-packed": [*SFT, "--pack"],
    "sft-separate-packed": [*SFT, "--sft-layout", "separate", "--pack"],
    "workers2": [*PRETRAIN, "--workers", "2"],
}


def partitioned(tmp_path_factory):
    """Two partitions of the pretraining inputs, each its own `prepare`, then `meap merge`."""
    out = tmp_path_factory.mktemp("partitioned") / "shards"
    for i in range(2):
        meap("prepare", *PRETRAIN, "--out", out, "--num-partitions", 2, "--partition", i, "--progress", "none")
    meap("merge", out)
    return out


@pytest.fixture(scope="module")
def directory(request, prepared, tmp_path_factory):
    name = request.param
    return partitioned(tmp_path_factory) if name == "partitioned" else prepared(name, *VARIANTS[name])


ALL = [*VARIANTS, "partitioned"]


@pytest.mark.parametrize("directory", ALL, indirect=True)
def test_load_from_disk_rows_equal_meaps_reader(directory):
    ds = load_from_disk(str(directory))
    m = manifest(directory)
    assert ds.num_rows == m["totals"]["rows"] > 0
    assert ds.column_names == ["input_ids", "labels", "position_ids"]
    assert ds.to_dict() == {k: [r[k] for r in meap_rows(directory)] for k in ds.column_names}


@pytest.mark.parametrize("directory", ALL, indirect=True)
def test_torch_format_and_dataloader_give_int_tensors(directory):
    ds = load_from_disk(str(directory)).with_format("torch")
    row = ds[0]
    assert {k: (v.dtype, v.dim()) for k, v in row.items()} == {k: (torch.int64, 1) for k in row}
    assert len({v.shape for v in row.values()}) == 1
    seq_len = manifest(directory)["seqLen"]

    def pad(rows):
        n = max(len(r["input_ids"]) for r in rows)
        fill = {"input_ids": 2, "labels": -100, "position_ids": 0}
        return {k: torch.stack([torch.nn.functional.pad(r[k], (0, n - len(r[k])), value=v) for r in rows]) for k, v in fill.items()}

    batches = list(DataLoader(ds, batch_size=8, collate_fn=pad))
    assert sum(b["input_ids"].shape[0] for b in batches) == ds.num_rows
    for b in batches:
        assert {k: v.dtype for k, v in b.items()} == {k: torch.int64 for k in b}
        assert len({v.shape for v in b.values()}) == 1 and b["input_ids"].shape[1] <= seq_len


def test_identical_whatever_the_worker_count_or_partitioning(prepared, tmp_path_factory):
    one = load_from_disk(str(prepared("random", *VARIANTS["random"]))).to_dict()
    assert load_from_disk(str(prepared("workers2", *VARIANTS["workers2"]))).to_dict() == one
    assert load_from_disk(str(partitioned(tmp_path_factory))).to_dict() == one


def test_a_version_1_directory_fails_as_the_readme_says(prepared, tmp_path):
    v1 = tmp_path / "v1"
    shutil.copytree(prepared("random", *VARIANTS["random"]), v1)
    subprocess.run(["npx", "tsx", str(ROOT / "test" / "interop" / "to_version_1.ts"), str(v1)], check=True, cwd=ROOT)
    assert manifest(v1)["version"] == 1
    with pytest.raises(FileNotFoundError, match="neither a `Dataset` directory nor a `DatasetDict` directory"):
        load_from_disk(str(v1))
    shard = v1 / manifest(v1)["shards"][0]["file"]
    with pytest.raises(pa.ArrowInvalid):
        pa.ipc.open_stream(shard.read_bytes()).read_all()
    assert pa.ipc.open_file(shard).read_all().num_rows == manifest(v1)["shards"][0]["rows"]
    assert meap("verify", v1).returncode == 0


def test_datasets_cache_files_neither_break_meap_nor_get_read_as_shards(prepared, tmp_path):
    d = tmp_path / "shards"
    shutil.copytree(prepared("random", *VARIANTS["random"]), d)
    seq_len = manifest(d)["seqLen"]
    ds = load_from_disk(str(d))
    full = ds.filter(lambda ids: len(ids) == seq_len, input_columns="input_ids")
    ds.map(lambda r: {"n": len(r["input_ids"])})
    ds.shuffle(seed=0)
    caches = sorted(p.name for p in d.glob("cache-*.arrow"))
    assert len(caches) >= 3, "datasets wrote no cache files beside the shards: this test no longer tests them"

    v = meap("verify", d)
    assert "OK" in v.stdout
    assert f"{len(caches)} Hugging Face datasets cache files" in v.stderr
    assert "already complete" in meap("prepare", *VARIANTS["random"], "--out", d).stdout
    assert meap_rows(d)[0]["input_ids"] == ds[0]["input_ids"]
    # The README's glob names the shards, not the cache files.
    globbed = load_dataset("arrow", data_files=str(d / "part-*.arrow"), split="train")
    assert globbed.num_rows == ds.num_rows
    assert full.num_rows == sum(len(r["input_ids"]) == seq_len for r in meap_rows(d))


def test_keep_in_memory_writes_nothing_beside_the_shards(prepared, tmp_path):
    d = tmp_path / "shards"
    shutil.copytree(prepared("random", *VARIANTS["random"]), d)
    before = sorted(p.name for p in d.iterdir())
    ds = load_from_disk(str(d))
    ds.filter(lambda ids: len(ids) == 128, input_columns="input_ids", keep_in_memory=True)
    ds.shuffle(seed=0, keep_in_memory=True)
    assert sorted(p.name for p in d.iterdir()) == before
