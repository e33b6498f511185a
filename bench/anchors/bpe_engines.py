"""The fastest BPE engines in common use, one thread, on the texts bench/tokenizer-alone.ts times
meap on: tiktoken (GPT-2, Llama-3) and sentencepiece (Llama-2). Prints one JSON line, as the TS
benches do; `npm run bench` runs it from bench/pipeline.ts.

    .venv/bin/python bench/anchors/bpe_engines.py tiktoken TOKENIZER.json TEXTS [--expect DIGESTS]
    .venv/bin/python bench/anchors/bpe_engines.py sentencepiece TOKENIZER.model TEXTS [--expect DIGESTS]

TEXTS is a .jsonl file (its `text` fields). Only the encode calls are timed. The ids are then digested as
bench/tokenizer-alone.ts digests meap's: per text, the first 16 hex digits of the sha256 of its ids
as little-endian int32. With --expect (the per-text digests tokenizer-alone.ts wrote for meap's bpe
engine), the first text whose ids differ ends the run with exit status 1: a mismatch is a failure,
never a number averaged in.

tiktoken cannot download its files here, so its Encoding is built from tokenizer.json: a token's
rank is its id, its bytes are its GPT-2 byte-level string decoded, the pattern is the
pre-tokenizer's regex, and the special added tokens are its special tokens. Documents are encoded
with encode_ordinary, as meap encodes documents as plain text (pipeline/tokenize/load.ts). tiktoken
merges whichever adjacent pair's concatenation has the lowest rank; the Hugging Face BPE merges by
the merges list. They agree when the merges are listed in the rank order of what they make, and
when every split of a token into two tokens is itself a merge: the output line reports both.

sentencepiece encodes with the model's own normalizer spec, whose add_dummy_prefix prepends "▁" as
tokenizer.json's Prepend normalizer does, and without BOS (encode's add_bos=False), as meap encodes
a document with tokenizer.json's post-processor (which adds <s>) removed.
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

# The pattern of tokenizers' ByteLevel pre-tokenizer with use_regex (tokenizers/src/pre_tokenizers/
# byte_level.rs): tokenizer.json does not spell it out.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
BATCH = 256


def read_texts(source: Path) -> list[str]:
    """The `text` field of every line of a .jsonl file."""
    return [json.loads(line)["text"] for line in source.read_text("utf8").splitlines() if line]


def byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet back to bytes: printable bytes stand for themselves, the rest are shifted to 256 +."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shifted)
            shifted += 1
    return {c: b for b, c in chars.items()}


def pattern_of(tok: dict) -> str:
    """The split regex tiktoken needs, from a byte-level tokenizer.json; anything tiktoken cannot express is refused."""
    pre = tok.get("pre_tokenizer") or {}
    if tok.get("normalizer") is not None:
        raise SystemExit(f"tiktoken has no normalizer: this tokenizer.json has {tok['normalizer'].get('type')}")
    if pre.get("type") == "ByteLevel" and pre.get("use_regex") and not pre.get("add_prefix_space"):
        return GPT2_PATTERN
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if (
        len(steps) == 2
        and steps[0].get("type") == "Split"
        and steps[0].get("behavior") == "Isolated"
        and not steps[0].get("invert")
        and "Regex" in steps[0].get("pattern", {})
        and steps[1].get("type") == "ByteLevel"
        and not steps[1].get("use_regex")
        and not steps[1].get("add_prefix_space")
    ):
        return steps[0]["pattern"]["Regex"]
    raise SystemExit(f"tiktoken cannot express this pre-tokenizer: {json.dumps(pre)[:200]}")


def merge_order_report(vocab: dict[str, int], merges: list) -> dict:
    """Whether the merges list is in the rank order of what each merge makes, and how many splits of a token into two tokens are not merges."""
    pairs = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]
    made = [vocab[a + b] for a, b in pairs]
    listed = set(pairs)
    return {
        "merges": len(pairs),
        "mergesInRankOrder": all(x <= y for x, y in zip(made, made[1:])),
        # Tokens made from a token of higher rank (tiktoken's own vocabularies have them): no harm to tiktoken.
        "mergesOfAHigherRankedPart": sum(1 for (a, b), r in zip(pairs, made) if max(vocab[a], vocab[b]) > r),
        "splitsNotInMerges": sum(1 for t in vocab for i in range(1, len(t)) if t[:i] in vocab and t[i:] in vocab and (t[:i], t[i:]) not in listed),
    }


def tiktoken_encoder(path: Path):
    import tiktoken

    tok = json.loads(path.read_text("utf8"))
    model = tok["model"]
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise SystemExit("tiktoken needs a byte-level BPE tokenizer.json")
    specials = {a["content"]: a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
    vocab = {t: i for t, i in model["vocab"].items() if t not in specials}
    to_byte = byte_level_decoder()
    ranks = {bytes(to_byte[c] for c in t): i for t, i in vocab.items()}
    enc = tiktoken.Encoding(name=path.parent.name, pat_str=pattern_of(tok), mergeable_ranks=ranks, special_tokens=specials)
    return enc.encode_ordinary, merge_order_report(vocab, model["merges"])


def sentencepiece_encoder(path: Path):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(path))
    return (lambda text: sp.encode(text, add_bos=False, add_eos=False)), {}


def digest(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("engine", choices=["tiktoken", "sentencepiece"])
    ap.add_argument("tokenizer", type=Path, help="tokenizer.json (tiktoken) or tokenizer.model (sentencepiece)")
    ap.add_argument("texts", type=Path, help="a .jsonl file")
    ap.add_argument("--expect", type=Path, help="meap's per-text id digests, one line per text (BENCH_IDS_OUT of bench/tokenizer-alone.ts)")
    args = ap.parse_args()

    texts = read_texts(args.texts)
    encode, report = (tiktoken_encoder if args.engine == "tiktoken" else sentencepiece_encoder)(args.tokenizer)
    expected = args.expect.read_text().split() if args.expect else None
    if expected is not None and len(expected) != len(texts):
        sys.exit(f"bench/anchors/bpe_engines.py: {args.expect} holds {len(expected)} digests for {len(texts)} texts: not the same text set")

    tokens = 0
    seconds = 0.0
    digests = []
    for i in range(0, len(texts), BATCH):
        batch = texts[i : i + BATCH]
        t0 = time.perf_counter()
        out = [encode(t) for t in batch]
        seconds += time.perf_counter() - t0
        for j, ids in enumerate(out):
            tokens += len(ids)
            d = digest(ids)
            if expected is not None and d != expected[i + j]:
                text = batch[j]
                sys.exit(
                    f"bench/anchors/bpe_engines.py: {args.engine} ({args.tokenizer}) gives other ids than meap's bpe engine "
                    f"for text #{i + j} of {len(texts)} in {args.texts} ({len(text)} characters, starting {text[:60]!r}); "
                    f"{args.engine}'s {len(ids)} ids start {list(ids[:16])}"
                )
            digests.append(d)
    text_bytes = sum(len(t.encode("utf8")) for t in texts)
    print(
        json.dumps(
            {
                "engine": args.engine,
                "textMB": round(text_bytes / 1e6, 1),
                "tokens": tokens,
                "seconds": round(seconds, 2),
                "tokensPerSec": round(tokens / seconds),
                "idsSha256": hashlib.sha256("\n".join(digests).encode()).hexdigest(),
                "idsMatchMeap": None if expected is None else True,
                **report,
            }
        )
    )


if __name__ == "__main__":
    main()
