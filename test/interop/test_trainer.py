"""The Hugging Face Trainer and a stock LlamaForCausalLM on meap shards, through the README's collator:
training works, labels -100 count for nothing, and documents packed in one row stay apart exactly
when the README says they do (no attention_mask, no cache)."""
import ast

import pytest
import torch
import torch.nn.functional as F
from datasets import load_from_disk
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from conftest import ALPACA, CHUNK0, LLAMA2, readme_python_blocks

TINY = dict(vocab_size=32064, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def readme_function(name):
    """A function the README defines, compiled from its text (so the test uses what users copy)."""
    for block in readme_python_blocks("Use the shards in your trainer"):
        for node in ast.parse(block).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                scope = {"torch": torch, "F": F}
                exec(compile(ast.Module([node], []), "README.md", "exec"), scope)
                return scope[name]
    raise AssertionError(f"README.md defines no {name}()")


pad = readme_function("pad")


@pytest.fixture(scope="module")
def pretrain(prepared):
    return load_from_disk(str(prepared("readme", CHUNK0, "-t", LLAMA2, "--seq-len", "128"))).with_format("torch")


@pytest.fixture(scope="module")
def trained(pretrain, tmp_path_factory):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY))
    assert model.config.use_cache, "a stock LlamaConfig caches: the Trainer must turn it off"
    args = TrainingArguments(str(tmp_path_factory.mktemp("run")), per_device_train_batch_size=8, max_steps=30, learning_rate=4e-4,
                             lr_scheduler_type="cosine", warmup_steps=3, weight_decay=0.05, adam_beta2=0.95, logging_steps=1,
                             report_to="none", seed=0, save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=pretrain, data_collator=pad)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    return model, losses


def test_trainer_trains_30_steps_and_the_loss_falls(trained):
    model, losses = trained
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2, losses
    assert model.config.use_cache is False


def test_labels_minus_100_count_for_nothing(trained, prepared):
    model, _ = trained
    sft = load_from_disk(str(prepared("sft-concat", ALPACA, "--mode", "sft", "-t", LLAMA2, "--seq-len", "512"))).with_format("torch")
    rows = [sft[i] for i in range(4)]
    assert any((r["labels"] == -100).any() for r in rows) and len({len(r["input_ids"]) for r in rows}) > 1
    with torch.no_grad():
        batch_loss = model(**pad(rows)).loss
        # Each row alone, unpadded, summed over its scored targets only.
        total, count = 0.0, 0
        for r in rows:
            logits = model(input_ids=r["input_ids"][None], position_ids=r["position_ids"][None]).logits[0, :-1]
            scored = r["labels"][1:] != -100
            total += F.cross_entropy(logits[scored], r["labels"][1:][scored], reduction="sum")
            count += int(scored.sum())
    torch.testing.assert_close(batch_loss, total / count, rtol=1e-5, atol=1e-5)


def row_with_two_documents(ds):
    for i in range(len(ds)):
        starts = (ds[i]["position_ids"] == 0).nonzero().flatten().tolist()
        if len(starts) >= 2 and 8 <= starts[1] <= len(ds[i]["input_ids"]) - 8:
            return ds[i], starts[1]
    raise AssertionError("no row holds two documents")


def second_document_moves(model, ds, **kwargs):
    """How far the second document's logits move when the first document's tokens change."""
    row, start = row_with_two_documents(ds)
    ids = row["input_ids"][None].clone()
    changed = ids.clone()
    changed[0, 1:start - 1] = torch.randint(3, 32000, (start - 2,), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = (model(input_ids=x, position_ids=row["position_ids"][None], **kwargs).logits[0, start:] for x in (ids, changed))
    return float((a - b).abs().max())


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_documents_stay_apart_without_cache_or_attention_mask(trained, pretrain, attention):
    model, _ = trained
    model.set_attn_implementation(attention)
    try:
        assert second_document_moves(model, pretrain, use_cache=False) < 1e-5
        # What the README warns of: a cache (the stock use_cache=True) or an attention_mask turns the detection off.
        assert second_document_moves(model, pretrain, use_cache=True) > 1e-3
        row, _ = row_with_two_documents(pretrain)
        ones = torch.ones_like(row["input_ids"])[None]
        assert second_document_moves(model, pretrain, use_cache=False, attention_mask=ones) > 1e-3
    finally:
        model.set_attn_implementation("sdpa")


def test_a_stock_config_leaks_in_a_plain_forward_and_use_cache_false_does_not(trained, pretrain):
    model, _ = trained
    model.config.use_cache = True  # as LlamaConfig() gives it, outside the Trainer
    try:
        assert second_document_moves(model, pretrain) > 1e-3
    finally:
        model.config.use_cache = False
    assert second_document_moves(model, pretrain) < 1e-5
