"""docs/mask_reference.py, the mask specification's independent Python reading, recomputes the mask of
every row of real random, span-5 and span-50 shards from the unmasked ids (the labels) and the
manifest alone, and finds exactly the positions meap masked."""
import importlib.util
import json

import pytest
from datasets import load_from_disk

from conftest import CHUNK0, CHUNK1, LLAMA2, ROOT, manifest

spec = importlib.util.spec_from_file_location("mask_reference", ROOT / "docs" / "mask_reference.py")
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)

INPUTS = [CHUNK0, CHUNK1, "-t", LLAMA2]
STRATEGIES = {
    "random": [*INPUTS, "--seq-len", "256", "--seed", "7"],
    "span5": [*INPUTS, "--seq-len", "256", "--mask", "span"],
    "span50": [*INPUTS, "--seq-len", "1024", "--mask", "span", "--span-length", "50", "--mask-ratio", "0.3"],
}


def special_ids(m):
    """What the packer never masks: the tokenizer's special added tokens, BOS and EOS (the spec's eligibility)."""
    tokenizer = json.loads((LLAMA2 / "tokenizer.json").read_text())
    ids = {t["id"] for t in tokenizer["added_tokens"] if t["special"]}
    return ids | {m["tokenizer"]["bosId"], m["tokenizer"]["eosId"]}


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_reference_recomputes_every_masked_position(prepared, name):
    d = prepared(name, *STRATEGIES[name])
    m = manifest(d)
    masking = m["masking"]
    sha = {i["path"]: i["sha256"] for i in m["inputs"]}
    special = special_ids(m)
    mask_id = m["tokenizer"]["maskTokenId"]
    rows = load_from_disk(str(d))
    at = 0
    masked = 0
    for shard in m["shards"]:
        # A row's index counts the rows of its input file, across that file's shards, in manifest order.
        first = sum(s["rows"] for s in m["shards"][: m["shards"].index(shard)] if s["input"] == shard["input"])
        for k in range(shard["rows"]):
            row = rows[at]
            at += 1
            labels, inputs = row["labels"], row["input_ids"]
            eligible = [0 if t in special else 1 for t in labels[:-1]] + [0]
            rng = reference.Rng.for_row(m["seed"], sha[shard["input"]], first + k)
            want = reference.mask_positions(eligible, masking["strategy"], masking["ratio"], masking["spanLength"], rng)
            got = [i for i, t in enumerate(inputs) if t == mask_id]
            assert got == want, f"{shard['file']} row {k}"
            assert all(a == b for i, (a, b) in enumerate(zip(inputs, labels)) if i not in set(want))
            masked += len(want)
    assert at == rows.num_rows and masked == m["totals"]["maskedTokens"] > 0
