"""PyTorch on the CPU training the model meap trains, on meap's shards: the anchor beside the wasm
line of bench/train.ts, which runs it. Prints one JSON line, as bench/train-once.ts does.

    .venv/bin/python bench/anchors/torch_train.py SHARDS CONFIG_JSON

CONFIG_JSON (bench/train.ts writes it from schemas/train.ts's PRESETS and bench/train-step.ts):
{"preset", "shape": {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}, "vocabRows",
"rows", "steps", "threads", "lr", "clip", "adam": {beta1, beta2, eps, weightDecay}}.

The model is Transformers' LlamaForCausalLM (sdpa attention, float32, untied head). Given
position_ids and no attention mask, Transformers finds the documents packed in a row and keeps
attention inside each, as meap's model does. A step is meap's: forward and backward of the mean
loss over the scored labels, clipping to `clip`, AdamW (fused, PyTorch's fastest on the CPU) with
weight decay on matrices and not on norms. One warm-up step, then `steps` timed steps; tokens/s
counts every position of every row, as bench/train-once.ts does.
"""
import json
import sys
import time
from pathlib import Path

import datasets
import torch
from transformers import LlamaConfig, LlamaForCausalLM


# What meap's loader pads a batch's rows with, to the longest of them (trainer/data.ts).
PADDING = {"input_ids": 0, "labels": -100, "position_ids": 0}


def batch(data: dict, picks: list[int]) -> dict:
    return {k: torch.nn.utils.rnn.pad_sequence([data[k][i] for i in picks], batch_first=True, padding_value=pad) for k, pad in PADDING.items()}


def main() -> None:
    shards, config = Path(sys.argv[1]), json.loads(sys.argv[2])
    torch.set_num_threads(config["threads"])
    torch.manual_seed(0)
    shape, adam = config["shape"], config["adam"]

    table = datasets.load_from_disk(str(shards))
    data = {k: [torch.tensor(r) for r in table[k]] for k in PADDING}
    seq_len = json.loads((shards / "manifest.json").read_text())["seqLen"]
    order = torch.randperm(len(table)).tolist()

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=config["vocabRows"],
            hidden_size=shape["hidden"],
            intermediate_size=shape["intermediate"],
            num_hidden_layers=shape["layers"],
            num_attention_heads=shape["heads"],
            num_key_value_heads=shape["kvHeads"],
            rope_parameters={"rope_type": "default", "rope_theta": shape["ropeBase"]},
            rms_norm_eps=shape["normEps"],
            max_position_embeddings=seq_len,
            tie_word_embeddings=False,
            # A cache would stop Transformers from finding the packed documents (masking_utils).
            use_cache=False,
            attn_implementation="sdpa",
        )
    )
    model.train()
    params = list(model.parameters())
    optim = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": adam["weightDecay"]},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=config["lr"],
        betas=(adam["beta1"], adam["beta2"]),
        eps=adam["eps"],
        fused=True,
    )
    cursor = 0

    def step() -> int:
        nonlocal cursor
        b = batch(data, [order[(cursor + i) % len(order)] for i in range(config["rows"])])
        cursor += config["rows"]
        model(**b).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config["clip"])
        optim.step()
        optim.zero_grad(set_to_none=True)
        return config["rows"] * seq_len

    step()
    tokens = 0
    t0 = time.perf_counter()
    for _ in range(config["steps"]):
        tokens += step()
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "backend": f"pytorch-cpu-{config['threads']}-threads",
                "preset": config["preset"],
                "params": sum(p.numel() for p in params),
                "rows": config["rows"],
                "length": seq_len,
                "steps": config["steps"],
                "secondsPerStep": round(seconds / config["steps"], 3),
                "tokensPerSec": round(tokens / seconds),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
