"""The experiment's tokenizer (samples/needle-tokenizer/tokenizer.json) is what its script trains
with Hugging Face `tokenizers`, byte for byte. (That meap's bpe engine gives it Hugging Face's ids is
test/bench/needle-corpus.test.ts's.)"""
import subprocess
import sys

from conftest import ROOT

SAMPLE = ROOT / "samples" / "needle-tokenizer"


def test_retraining_gives_the_shipped_bytes(tmp_path):
    out = tmp_path / "tokenizer.json"
    subprocess.run([sys.executable, str(SAMPLE / "train.py"), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (SAMPLE / "tokenizer.json").read_bytes()
