"""What every interop test shares: meap run through its real CLI, the fixtures beside the checkout,
and directories prepared once per session (`prepared`).

The tests check meap against the real Python tools (datasets, Transformers, PyTorch, Slurm), so
each one prepares its shards with `meap prepare` exactly as a user would.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"
LLAMA2 = FIXTURES / "tokenizers" / "llama2"
GPT2 = FIXTURES / "tokenizers" / "gpt2"
CHUNK0 = FIXTURES / "slimpajama" / "chunk_0.jsonl.zst"
CHUNK1 = FIXTURES / "slimpajama" / "chunk_1.jsonl.zst"
ALPACA = FIXTURES / "alpaca" / "alpaca_head128.json"


def meap(*args, check=True, cwd=None, env=None):
    """`meap ARGS` through bin/meap.js; a non-zero exit fails the test with meap's own message."""
    r = subprocess.run(
        ["node", str(ROOT / "bin" / "meap.js"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )
    if check and r.returncode != 0:
        raise AssertionError(f"meap {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
    return r


def meap_rows(directory):
    """Every row as meap's own reader decodes it (`meap inspect --json`), in manifest order."""
    out = meap("inspect", directory, "--rows", "0..", "--json").stdout
    return [{k: row[k] for k in ("input_ids", "labels", "position_ids")} for row in json.loads(out)["rows"]]


def readme_python_blocks(section):
    """The ```python blocks of README.md's `## {section}`, in order: what the README tells users to run."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end >= 0 else None], re.S)


def causal_lm_loss(model, rows, batch=16):
    """Transformers' summed next-token cross-entropy over meap rows, and how many targets it scored.

    Rows go in as meap trains on them: packed documents kept apart by position_ids alone (no
    attention_mask, no cache, which is when Transformers masks across position_ids restarts), padded
    to the longest row with input 0, position 0 and label -100.
    """
    import torch

    total, targets = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            width = max(len(r["input_ids"]) for r in chunk)
            pad = lambda key, fill: torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in chunk])
            labels = pad("labels", -100)
            logits = model(input_ids=pad("input_ids", 0), position_ids=pad("position_ids", 0), use_cache=False).logits
            shifted = labels[:, 1:]
            total += torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).double(), shifted.reshape(-1), ignore_index=-100, reduction="sum"
            ).item()
            targets += int((shifted != -100).sum())
    return total, targets


def manifest(directory):
    return json.loads((Path(directory) / "manifest.json").read_text())


def pytest_configure(config):
    # meap keeps tokenizer copies in $MEAP_CACHE: a session's own, so tests neither read nor fill ~/.cache.
    if "MEAP_CACHE" not in os.environ:
        cache = ROOT / ".venv" / "test-cache"
        cache.mkdir(parents=True, exist_ok=True)
        os.environ["MEAP_CACHE"] = str(cache)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """prepared(name, *prepare_args) -> the directory `meap prepare ARGS --out DIR` wrote, made once per session."""
    made = {}

    def make(name, *args):
        if name not in made:
            out = tmp_path_factory.mktemp("shards") / name
            meap("prepare", *args, "--out", out, "--progress", "none")
            made[name] = out
        return made[name]

    return make


def pytest_sessionfinish(session, exitstatus):
    # CI runs every interop test: a skip there (a missing tool, say) is a failure, not a pass.
    if os.environ.get("MEAP_INTEROP") != "required":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"meap: {skipped} interop test(s) skipped, and MEAP_INTEROP=required allows none", red=True)
        session.exitstatus = 1
