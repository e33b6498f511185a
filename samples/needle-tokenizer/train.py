"""Trains samples/needle-tokenizer/tokenizer.json, the small vocabulary of `npm run experiment:needle`.

A byte-level BPE of 2,048 ids (GPT-2's pre-tokenizer, so meap's bpe engine reads it as it reads
GPT-2) trained with Hugging Face `tokenizers` on the project's own sample corpus (samples/tiny-corpus,
written for meap, CC0). `<s>` and `</s>` frame documents, as Llama-2's do. A small vocabulary keeps the
LM head from dominating a small model's step. Run from the repository root with the interop
environment (`npm run setup:interop`): `.venv/bin/python samples/needle-tokenizer/train.py [OUT]`
(OUT defaults to the shipped file; test/interop/test_needle_tokenizer.py retrains it elsewhere and
compares the bytes).
"""
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "samples" / "tiny-corpus"
SHIPPED = Path(__file__).resolve().parent / "tokenizer.json"
VOCAB = 2048
SPECIALS = ["<s>", "</s>"]


def texts():
    # The .jsonl files only: the story file is zstd, and the venv has no zstd reader.
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)["text"]


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts()), trainer=trainer)
    bos, eos = (tok.token_to_id(t) for t in SPECIALS)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tok.save(str(out))
    print(f"wrote {out}: {tok.get_vocab_size()} ids")


if __name__ == "__main__":
    main()
