"""`meap export` against Transformers: the folder loads as a plain LlamaForCausalLM and AutoTokenizer,
its loss on meap shards is `meap eval`'s, and its logits are meap's reference model's (RoPE pairing,
GQA head order, RMSNorm, SwiGLU and masking across packed documents all agree), sharded or not.

The run is the tiny preset trained a few steps on shards of real text prepared with the Llama-2
tokenizer at --seq-len 128, whose rows hold several documents.
"""
import json
import subprocess

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoTokenizer, GenerationConfig, LlamaForCausalLM

from conftest import CHUNK0, LLAMA2, ROOT, causal_lm_loss, meap, meap_rows

MASK_ID = 32000


@pytest.fixture(scope="module")
def shards(prepared):
    return prepared("export-llama2-128", CHUNK0, "--tokenizer", LLAMA2, "--seq-len", "128", "--limit", "5")


@pytest.fixture(scope="module")
def run(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    meap("train", "--data", shards, "--out", out, "--model", "tiny", "--steps", "3", "--batch-size", "4", "--lr", "3e-3",
         "--backend", "wasm", "--progress", "none")
    return out


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "tiny"
    meap("export", run, "--out", out)
    return out


def tensors(files):
    out = {}
    for f in files:
        with safe_open(str(f), "pt") as st:
            out.update({k: st.get_tensor(k) for k in st.keys()})
    return out


def test_loads_as_a_plain_llama_with_its_tokenizer(exported, shards):
    model, info = LlamaForCausalLM.from_pretrained(exported, output_loading_info=True)
    assert {k: v for k, v in info.items() if v} == {}
    cfg = model.config
    assert (cfg.model_type, cfg.architectures, cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size) == ("llama", ["LlamaForCausalLM"], 32064, 64, 172)
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (2, 4, 2, 16)
    assert (cfg.rope_parameters["rope_theta"], cfg.rms_norm_eps, cfg.tie_word_embeddings) == (10000, 1e-5, False)
    assert (cfg.bos_token_id, cfg.eos_token_id) == (1, 2)
    gen = GenerationConfig.from_pretrained(exported)
    assert (gen.bos_token_id, gen.eos_token_id) == (1, 2)
    with safe_open(str(exported / "model.safetensors"), "pt") as st:
        assert st.metadata() == {"format": "pt"}

    tok = AutoTokenizer.from_pretrained(exported)
    assert tok.convert_ids_to_tokens(MASK_ID) == "[MASK]"
    assert (tok.mask_token, tok.mask_token_id, tok.bos_token_id, tok.eos_token_id) == ("[MASK]", MASK_ID, 1, 2)
    rows = meap_rows(shards)
    row = next(r["input_ids"] for r in rows if MASK_ID in r["input_ids"])
    text = tok.decode(row)
    assert text.count("[MASK]") == row.count(MASK_ID)
    # Skipping special tokens leaves the row's text: the same as decoding the row without its specials.
    assert tok.decode(row, skip_special_tokens=True) == tok.decode([i for i in row if i not in (1, 2, MASK_ID)])


def test_loss_on_meap_shards_equals_meap_eval(exported, run, shards):
    ev = json.loads(meap("eval", "--run", run, "--data", shards, "--json", "--backend", "wasm").stdout)
    model = LlamaForCausalLM.from_pretrained(exported, attn_implementation="eager").eval()
    total, targets = causal_lm_loss(model, meap_rows(shards))
    print(f"meap eval {ev['meanLoss']:.9f}, Transformers {total / targets:.9f} over {targets} targets")
    assert targets == ev["targets"]
    assert total / targets == pytest.approx(ev["meanLoss"], rel=1e-4)


def test_logits_equal_meap_reference_model_across_documents(exported, run, shards, tmp_path):
    rows = [r for r in meap_rows(shards) if len(r["input_ids"]) == 128]
    packed = [r for r in rows if r["position_ids"].count(0) > 1]
    assert len(packed) >= 2, "the fixture rows must hold several documents each"
    batch = [packed[0], packed[1], rows[0]]
    (tmp_path / "batch.json").write_text(json.dumps({k: [r[k] for r in batch] for k in ("input_ids", "position_ids")}))
    subprocess.run(["npx", "tsx", "test/interop/meap_logits.ts", run, tmp_path / "batch.json", tmp_path / "logits.f32"],
                   cwd=ROOT, check=True, capture_output=True)
    ref = np.fromfile(tmp_path / "logits.f32", dtype="<f4").reshape(3, 128, 32064)

    for attn in ("eager", "sdpa"):
        model = LlamaForCausalLM.from_pretrained(exported, attn_implementation=attn).eval()
        with torch.no_grad():
            got = model(input_ids=torch.tensor([r["input_ids"] for r in batch]),
                        position_ids=torch.tensor([r["position_ids"] for r in batch]), use_cache=False).logits.numpy()
        diff = float(np.abs(got - ref).max())
        print(f"{attn}: max |logit difference| {diff:.3g}, max |logit| {float(np.abs(ref).max()):.3g}")
        assert diff <= 1e-4

    # The control: attending across the documents of a packed row is a difference the test sees.
    with torch.no_grad():
        across = model(input_ids=torch.tensor([r["input_ids"] for r in batch]), attention_mask=torch.ones(3, 128, dtype=torch.long),
                       position_ids=torch.tensor([r["position_ids"] for r in batch]), use_cache=False).logits.numpy()
    control = float(np.abs(across[:2] - ref[:2]).max())
    print(f"attending across documents: max |logit difference| {control:.3g}")
    assert control > 100 * 1e-4


def test_sharded_export_is_the_same_tensors_with_an_index(exported, run, tmp_path):
    out = tmp_path / "sharded"
    meap("export", run, "--out", out, "--max-shard-size", "3MB")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted({*index["weight_map"].values()})
    n = len(files)
    assert n > 2 and files == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    assert not (out / "model.safetensors").exists()
    single = tensors([exported / "model.safetensors"])
    sharded = tensors([out / f for f in files])
    assert sharded.keys() == single.keys() == index["weight_map"].keys()
    assert index["metadata"]["total_size"] == sum(t.numel() * 4 for t in single.values())
    assert all(torch.equal(sharded[k], single[k]) for k in single)
    model, info = LlamaForCausalLM.from_pretrained(out, output_loading_info=True)
    assert {k: v for k, v in info.items() if v} == {}
    assert torch.equal(model.lm_head.weight, single["lm_head.weight"])
