#!/usr/bin/env python3
"""Reference implementation of the MEAP masking spec (the README's mask specification), stdlib only.

It exists so that the TypeScript pipeline (core/rng.ts, pipeline/mask.ts) can be checked
against an independent reading of the spec, and so that anyone can recompute the masks of a
shard without Node. Clarity beats speed here.

Usage: a JSON job, or a JSON list of jobs, on stdin:
  {"seed": 0, "fileSha256": "<64 hex>", "rowIndex": 0, "eligible": [0, 1, 1, ...],
   "strategy": "random" | "span" | "none" | "sft-duplicate", "ratio": 0.15, "spanLength": 5}
prints the masked positions (ascending) as JSON: one list, or a list of lists.
"""
import hashlib
import json
import math
import struct
import sys

DOMAIN = b"meap-mask-v1\x00"
SPAN_REJECTION_TRIES = 64
M32 = 0xFFFFFFFF


def row_seed(seed, file_sha256_hex, row_index):
    data = DOMAIN + struct.pack("<Q", seed) + bytes.fromhex(file_sha256_hex) + struct.pack("<Q", row_index)
    assert len(data) == 13 + 8 + 32 + 8
    return list(struct.unpack("<4I", hashlib.sha256(data).digest()[:16]))


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Rng:
    """xoshiro128** with the documented all-zero fix-up."""

    def __init__(self, words):
        s = [w & M32 for w in words]
        if s == [0, 0, 0, 0]:
            s[0] = 0x9E3779B9
        self.s = s

    @classmethod
    def for_row(cls, seed, file_sha256_hex, row_index):
        return cls(row_seed(seed, file_sha256_hex, row_index))

    def next_u32(self):
        s = self.s
        result = (_rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def below(self, n):
        assert 1 <= n <= 1 << 32
        lim = (1 << 32) - ((1 << 32) % n)
        while True:
            x = self.next_u32()
            if x < lim:
                return x % n

    def below_big(self, n):
        assert n >= 1
        b = (n - 1).bit_length()
        if b == 0:
            return 0
        w = (b + 31) // 32
        top_mask = (1 << (b - 32 * (w - 1))) - 1
        while True:
            x = self.next_u32() & top_mask
            for _ in range(w - 1):
                x = (x << 32) | self.next_u32()
            if x < n:
                return x


def choose_sorted(s, k, rng):
    """k distinct values of range(s), ascending, by partial Fisher-Yates on the identity."""
    if k == 0:
        return []
    a = list(range(s))
    for i in range(k):
        j = i + rng.below(s - i)
        a[i], a[j] = a[j], a[i]
    return sorted(a[:k])


def random_positions(eligible, ratio, rng, at_least=0):
    lst = [i for i, e in enumerate(eligible) if e]
    k = min(len(lst), max(at_least, math.floor(ratio * len(lst))))
    return [lst[c] for c in choose_sorted(len(lst), k, rng)]


def segments(eligible, L):
    """(starts, lens) of maximal eligible runs with length >= L, and the eligible count E."""
    starts, lens, count, i, n = [], [], 0, 0, len(eligible)
    while i < n:
        if not eligible[i]:
            i += 1
            continue
        start = i
        while i < n and eligible[i]:
            i += 1
        count += i - start
        if i - start >= L:
            starts.append(start)
            lens.append(i - start)
    return starts, lens, count


def reject_from_line(starts, lens, L, m, rng):
    slots = sum(lens) - m * (L - 1)
    for _ in range(SPAN_REJECTION_TRIES):
        c = choose_sorted(slots, m, rng)
        out, seg, base = [], 0, 0
        for k in range(m):
            o = c[k] + k * (L - 1)
            while o >= base + lens[seg]:
                base += lens[seg]
                seg += 1
            if o + L > base + lens[seg]:
                break
            out.append(starts[seg] + o - base)
        else:
            return out
    return None


def exact_counts(starts, lens, L, m, rng):
    r = len(lens)
    caps = [n // L for n in lens]
    f = [[math.comb(n - j * (L - 1), j) for j in range(caps[i] + 1)] for i, n in enumerate(lens)]
    # P[i][t]: ways to put t spans (0 <= t <= m) into segments 0..i. P[-1] is the empty prefix.
    P = []
    prev = [1] + [0] * m
    for i in range(r):
        cur = [sum(f[i][j] * prev[t - j] for j in range(min(caps[i], t) + 1)) for t in range(m + 1)]
        P.append(cur)
        prev = cur
    empty = [1] + [0] * m
    counts = [0] * r
    t = m
    for i in range(r - 1, -1, -1):
        before = P[i - 1] if i > 0 else empty
        u = rng.below_big(P[i][t])
        for j in range(min(caps[i], t) + 1):
            w = f[i][j] * before[t - j]
            if u < w:
                break
            u -= w
        else:
            raise AssertionError("weights do not sum to the DP total")
        counts[i] = j
        t -= j
    out = []
    for i in range(r):
        mi = counts[i]
        if mi:
            c = choose_sorted(lens[i] - mi * (L - 1), mi, rng)
            out.extend(starts[i] + c[k] + k * (L - 1) for k in range(mi))
    return out


def span_positions(eligible, ratio, L, rng):
    starts, lens, e = segments(eligible, L)
    wanted = math.floor(ratio * e / L)
    m = min(wanted, sum(n // L for n in lens))
    if m == 0:
        return []
    span_starts = reject_from_line(starts, lens, L, m, rng)
    if span_starts is None:
        span_starts = exact_counts(starts, lens, L, m, rng)
    return [s + d for s in span_starts for d in range(L)]


def mask_positions(eligible, strategy, ratio, span_length, rng):
    assert 0 <= ratio <= 1
    if strategy == "none":
        return []
    if strategy == "random":
        return random_positions(eligible, ratio, rng)
    if strategy == "sft-duplicate":
        return random_positions(eligible, ratio, rng, 1)
    if strategy == "span":
        assert isinstance(span_length, int) and span_length >= 1
        return span_positions(eligible, ratio, span_length, rng)
    raise ValueError(f"unknown strategy {strategy!r}")


def run_job(job):
    rng = Rng.for_row(job["seed"], job["fileSha256"], job["rowIndex"])
    return mask_positions(job["eligible"], job["strategy"], job["ratio"], job.get("spanLength"), rng)


def main():
    job = json.load(sys.stdin)
    result = [run_job(j) for j in job] if isinstance(job, list) else run_job(job)
    json.dump(result, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
