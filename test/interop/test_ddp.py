"""PyTorch DDP on meap shards: the README's `ddp.py`, run as written by `torchrun --nproc_per_node 2`
(gloo, two CPU processes). Each rank reads its own rows, the parts together are every row once, and
both ranks end with the same weights."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from datasets import load_from_disk
from datasets.distributed import split_dataset_by_node

from conftest import CHUNK0, LLAMA2, manifest, meap_rows, readme_python_blocks

# Appended to the README's script: each rank's final weights, for the comparison below.
SAVE = '\ntorch.save(model.module.state_dict(), f"weights-rank{rank}.pt")\n'


def test_torchrun_two_ranks_read_disjoint_parts_of_every_row_and_end_equal(prepared, tmp_path):
    d = prepared("ddp", CHUNK0, "-t", LLAMA2, "--seq-len", "128", "--limit", "40")
    shutil.copytree(d, tmp_path / "shards")
    script = next(b for b in readme_python_blocks("Use the shards in your trainer") if b.startswith("# ddp.py"))
    (tmp_path / "ddp.py").write_text(script + SAVE)
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run([torchrun, "--nproc_per_node", "2", "ddp.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"torchrun exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"

    total = manifest(d)["totals"]["rows"]
    read = {int(m[1]): int(m[2]) for m in re.finditer(r"rank (\d) read (\d+) of (\d+) rows", r.stdout)}
    assert sorted(read) == [0, 1] and sum(read.values()) == total

    # The parts split_dataset_by_node gives the ranks: disjoint, and together meap's rows in order.
    ds = load_from_disk(str(d))
    parts = [split_dataset_by_node(ds, rank=k, world_size=2) for k in range(2)]
    assert [len(p) for p in parts] == [read[0], read[1]]
    assert list(parts[0]["input_ids"]) + list(parts[1]["input_ids"]) == [row["input_ids"] for row in meap_rows(d)]

    w0, w1 = (torch.load(tmp_path / f"weights-rank{k}.pt") for k in range(2))
    assert w0.keys() == w1.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "the ranks ended with different weights"
