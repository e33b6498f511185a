"""`meap train --init` against Transformers: a randomly initialised LlamaForCausalLM saved by
`save_pretrained` (F32, and BF16 in shards with an index) starts a meap run whose step-0 loss is
Transformers' own on the same batch once Transformers adds the [MASK] rows itself
(`resize_token_embeddings`), and `meap export` after 0 steps gives its tensors back bitwise, with
the new rows where the README says. Checkpoints meap cannot train from are refused in one line.

The shards are SFT rows of the Llama-2 tokenizer (vocabulary 32000, [MASK] at 32000, so meap's
embedding has 32064 rows), the paper's fine-tuning setting; they hold [MASK] tokens.
"""
import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

from conftest import ALPACA, LLAMA2, causal_lm_loss, manifest, meap, meap_rows

SHAPE = dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
ROWS = 32064


def random_llama(vocab_size=32000, **kw):
    torch.manual_seed(0)
    # A wide initialisation and norms away from 1, so that a misplaced weight moves the loss.
    cfg = LlamaConfig(vocab_size=vocab_size, initializer_range=0.2, rms_norm_eps=1e-5, max_position_embeddings=256,
                      rope_parameters={"rope_theta": 500000.0, "rope_type": "default"}, **SHAPE, **kw)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.3 * torch.randn_like(p))
    return model


def tensors(directory):
    index = directory / "model.safetensors.index.json"
    files = sorted({*json.loads(index.read_text())["weight_map"].values()}) if index.exists() else ["model.safetensors"]
    out = {}
    for f in files:
        with safe_open(str(directory / f), "pt") as st:
            out.update({k: st.get_tensor(k) for k in st.keys()})
    return out


@pytest.fixture(scope="module")
def shards(prepared):
    return prepared("init-sft-llama2", ALPACA, "--mode", "sft", "--tokenizer", LLAMA2, "--seq-len", "128", "--limit", "12", "--pack")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "random-llama"
    random_llama().save_pretrained(out)
    return out


def train(*args, check=True):
    return meap("train", "--backend", "wasm", "--progress", "none", *args, check=check)


def test_step0_loss_equals_transformers_on_the_same_batch(checkpoint, shards, tmp_path):
    rows = meap_rows(shards)
    assert any(32000 in r["input_ids"] for r in rows), "the batch must exercise the new [MASK] row"
    run = tmp_path / "run"
    # One step over every row at once: its loss is the step-0 weights' on a known batch (row order does not change a mean).
    r = train("--data", shards, "--init", checkpoint, "--out", run, "--steps", "1", "--batch-size", manifest(shards)["totals"]["rows"])
    assert f"initialised from {checkpoint}; embedding and LM head grown from 32000 to {ROWS} rows for [MASK]" in r.stderr
    step1 = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])

    model = LlamaForCausalLM.from_pretrained(checkpoint, attn_implementation="eager").eval()
    # Transformers' own [MASK] rows: the old rows' mean plus noise of 1e-9 times their covariance, where
    # meap keeps the covariance's diagonal and draws from --seed; the noise is far below the tolerance.
    model.resize_token_embeddings(ROWS)
    total, targets = causal_lm_loss(model, rows)
    print(f"meap step-0 loss {step1['loss']:.9f}, Transformers {total / targets:.9f} over {targets} targets")
    assert step1["tokens"] == targets
    assert step1["loss"] == pytest.approx(total / targets, rel=1e-4)


def test_export_after_0_steps_gives_the_tensors_back(checkpoint, shards, tmp_path):
    run, back = tmp_path / "run", tmp_path / "back"
    train("--data", shards, "--init", checkpoint, "--out", run, "--steps", "0", "--seed", "7")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000000"]
    meap("export", run, "--out", back)
    want, got = tensors(checkpoint), tensors(back)
    assert got.keys() == want.keys()
    for name, w in want.items():
        g = got[name]
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            assert g.shape == (ROWS, 64)
            assert torch.equal(g[:32000], w), name
            # The README's new rows: the old rows' mean plus √(1e-9·σ²) noise per column.
            mean, std = w.double().mean(0), w.double().std(0, unbiased=False)
            dev = (g[32000:].double() - mean).abs() / (1e-9**0.5 * std)
            assert 0 < float(dev.max()) < 6, name
        else:
            assert torch.equal(g, w), name
    cfg = json.loads((back / "config.json").read_text())
    assert (cfg["vocab_size"], cfg["rope_parameters"]["rope_theta"], cfg["max_position_embeddings"]) == (ROWS, 500000, 256)

    ev = json.loads(meap("eval", "--run", run, "--data", shards, "--json", "--backend", "wasm").stdout)
    model = LlamaForCausalLM.from_pretrained(back).eval()
    total, targets = causal_lm_loss(model, meap_rows(shards))
    print(f"meap eval at step 0 {ev['meanLoss']:.9f}, Transformers on the export {total / targets:.9f} over {targets} targets")
    assert (ev["step"], ev["targets"]) == (0, targets)
    assert ev["meanLoss"] == pytest.approx(total / targets, rel=1e-4)


def test_a_bf16_checkpoint_in_shards(checkpoint, shards, tmp_path):
    bf16 = tmp_path / "bf16"
    model = LlamaForCausalLM.from_pretrained(checkpoint).to(torch.bfloat16)
    model.save_pretrained(bf16, max_shard_size="2MB")
    assert (bf16 / "model.safetensors.index.json").exists()
    run, back = tmp_path / "run", tmp_path / "back"
    train("--data", shards, "--init", bf16, "--out", run, "--steps", "0")
    meap("export", run, "--out", back)
    got = tensors(back)
    for name, w in tensors(bf16).items():
        assert w.dtype == torch.bfloat16
        assert torch.equal(got[name][: w.shape[0]], w.float()), name


def test_an_export_with_its_mask_row_starts_a_run_as_it_is(checkpoint, shards, tmp_path):
    run, back, again, back2 = (tmp_path / n for n in ("run", "back", "again", "back2"))
    train("--data", shards, "--init", checkpoint, "--out", run, "--steps", "0")
    meap("export", run, "--out", back)
    # 32064 rows and a tokenizer.json that names id 32000 [MASK]: nothing to add.
    r = train("--data", shards, "--init", back, "--out", again, "--steps", "0")
    assert "grown" not in r.stderr
    meap("export", again, "--out", back2)
    first, second = tensors(back), tensors(back2)
    assert all(torch.equal(first[k], second[k]) for k in first)


def one_line_refusal(r, *parts):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meap: error: "), r.stderr
    for p in parts:
        assert p in lines[0], lines[0]


def test_refusals_are_one_line(checkpoint, shards, tmp_path):
    out = lambda: tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    base = ("--data", shards, "--steps", "0")

    one_line_refusal(train(*base, "--init", tmp_path / "nowhere", "--out", out(), check=False), "config.json: not found")

    mistral = tmp_path / "mistral"
    MistralForCausalLM(MistralConfig(vocab_size=32000, **SHAPE)).save_pretrained(mistral)
    one_line_refusal(train(*base, "--init", mistral, "--out", out(), check=False), 'not a Llama checkpoint: model_type "mistral" (MistralForCausalLM)')

    one_line_refusal(train(*base, "--init", checkpoint, "--model", "tiny", "--out", out(), check=False),
                     "config.json has rope_theta 500000, --model tiny has ropeBase 10000")

    wrong = tmp_path / "wrong-shape"
    wrong.mkdir()
    (wrong / "model.safetensors").symlink_to(checkpoint / "model.safetensors")
    cfg = json.loads((checkpoint / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 128}))
    one_line_refusal(train(*base, "--init", wrong, "--out", out(), check=False),
                     "shape mismatch: model.layers.0.mlp.gate_proj.weight has shape [172,64], config.json makes it [128,64]")

    # A checkpoint whose vocabulary has a <pad> token at 32000, where the shards put [MASK].
    padded = tmp_path / "padded"
    random_llama(vocab_size=32001).save_pretrained(padded)
    tok = AutoTokenizer.from_pretrained(LLAMA2)
    tok.add_special_tokens({"pad_token": "<pad>"})
    tok.save_pretrained(padded)
    one_line_refusal(train(*base, "--init", padded, "--out", out(), check=False),
                     'no room for [MASK]: the shards put it at id 32000, which is the checkpoint\'s token "<pad>"', "--tokenizer")
