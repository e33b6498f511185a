"""The README's Python runs as written: its snippets, extracted from README.md, run in order as one
script per section on a CPU, in a folder holding `shards/` (a meap pre-training directory), `run-hf/`
(a `meap export`) and `meap` on the PATH. A README edit that breaks a snippet fails here."""
import ast
import builtins
import json
import os
import shutil
import subprocess
import sys

import pytest

from transformers import LlamaForCausalLM

from conftest import CHUNK0, LLAMA2, ROOT, causal_lm_loss, meap, meap_rows, readme_python_blocks

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


EXPORT = "Export to and start from Hugging Face"


@pytest.fixture(scope="module")
def runs(workdir):
    """A tiny run of three steps with a checkpoint after each, and its step-0 weights (same seed), both exported."""
    meap("train", "--data", workdir / "shards", "--out", workdir / "meap-run", "--steps", 3, "--batch-size", 4, "--checkpoint-every", 1,
         "--keep-last", 3, "--backend", "wasm", "--progress", "none")
    meap("train", "--data", workdir / "shards", "--out", workdir / "meap-run0", "--steps", 0, "--backend", "wasm", "--progress", "none")
    meap("export", workdir / "meap-run", "--out", workdir / "run-hf")
    return workdir


def test_the_export_snippets_run_as_written(runs):
    blocks = readme_python_blocks(EXPORT)
    assert blocks, f"README.md's {EXPORT} section has no Python"
    (runs / "export.py").write_text("\n".join(blocks))
    run([sys.executable, "export.py"], runs)


def test_meap_order_lets_transformers_replay_a_meap_run_step_by_step(runs):
    """`meap order` names the rows of each step: Transformers, given the weights a step started from and
    those rows, computes the loss meap logged for that step."""
    order = [int(i) for i in meap("order", "--data", runs / "shards", "--seed", 0).stdout.split()]
    rows = meap_rows(runs / "shards")
    logged = [json.loads(line)["loss"] for line in (runs / "meap-run" / "metrics.jsonl").read_text().splitlines()]
    assert len(logged) == 3
    starts = {0: (runs / "meap-run0", 0), 1: (runs / "meap-run", 1), 2: (runs / "meap-run", 2)}
    for step, (run_dir, ckpt) in starts.items():
        hf = runs / f"from-step-{step}"
        meap("export", run_dir, "--out", hf, "--step", ckpt)
        model = LlamaForCausalLM.from_pretrained(hf).eval()
        total, targets = causal_lm_loss(model, [rows[i] for i in order[4 * step : 4 * step + 4]])
        assert total / targets == pytest.approx(logged[step], rel=1e-4), f"step {step + 1}"
