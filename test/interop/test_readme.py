"""The README's Python runs as written: its snippets, extracted from README.md, run in order as one
script on a CPU, in a folder holding `shards/` (a meap pre-training directory) with `meap` on the PATH.
A README edit that breaks a snippet fails here."""
import ast
import builtins
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CHUNK0, LLAMA2, ROOT, readme_python_blocks

SECTION = "Use the shards in your trainer"
GPU = "# GPU variant"
DDP = "# ddp.py"

# Checked after the snippets, in their namespace: what each one claims, not only that it ran.
CHECKS = '''
import json
from transformers.modeling_flash_attention_utils import prepare_fa_kwargs_from_position_ids
manifest = json.load(open("shards/manifest.json"))
assert len(ds) == manifest["totals"]["rows"] == rows
assert table.num_rows == frame.height == manifest["shards"][0]["rows"]
assert table.column_names == ["input_ids", "labels", "position_ids"]
assert sorted(order) == list(range(len(ds))) and in_meap_order[0] == ds[order[0]]
(want, _), _ = prepare_fa_kwargs_from_position_ids(batch["position_ids"])
assert cu.tolist() == want.tolist(), (cu, want)
assert cu[-1] == batch["input_ids"].shape[1]
assert not list(__import__("pathlib").Path("shards").glob("cache-*")), "a snippet wrote a cache file into shards/"
print("checks passed")
'''


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, prepared):
    """What a user has: shards/ from `meap prepare`, and `meap` on the PATH (npm link)."""
    d = tmp_path_factory.mktemp("readme")
    shutil.copytree(prepared("readme", CHUNK0, "-t", LLAMA2, "--seq-len", "128"), d / "shards")
    (d / "bin").mkdir()
    (d / "bin" / "meap").symlink_to(ROOT / "bin" / "meap.js")
    return d


def run(args, cwd):
    env = {**os.environ, "PATH": f"{cwd / 'bin'}:{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def test_the_section_has_the_snippets_this_test_expects():
    blocks = readme_python_blocks(SECTION)
    assert sum(b.startswith(GPU) for b in blocks) == 1 and sum(b.startswith(DDP) for b in blocks) == 1
    assert len(blocks) >= 8


def test_snippets_run_in_order_on_a_cpu(workdir):
    blocks = [b for b in readme_python_blocks(SECTION) if not b.startswith((GPU, DDP))]
    (workdir / "readme.py").write_text("\n".join(blocks) + CHECKS)
    assert "checks passed" in run([sys.executable, "readme.py"], workdir).stdout


def test_the_gpu_variant_compiles_and_uses_only_names_the_snippets_define():
    blocks = readme_python_blocks(SECTION)
    gpu = next(b for b in blocks if b.startswith(GPU))
    compile(gpu, "README GPU variant", "exec")
    earlier = [b for b in blocks if not b.startswith((GPU, DDP))]
    defined = set(dir(builtins)) | {n for b in earlier for n in assigned(ast.parse(b))} | assigned(ast.parse(gpu))
    used = {n.id for n in ast.walk(ast.parse(gpu)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert used <= defined, f"the GPU variant uses {sorted(used - defined)}, which no snippet before it defines"


def assigned(tree):
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    return names | {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
