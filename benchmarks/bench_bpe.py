"""Benchmark: from-scratch BPE learning and encoding against Hugging Face `tokenizers`.

Run: .venv/bin/python benchmarks/bench_bpe.py [--vocab-size 8000 --side tgt]
Learns on the training side of bible-en-es (the seq2seq task's split, all lengths) with both,
checks the merges are equal, then encodes the test side. One run each (the Rust twin is
multi-threaded: pin RAYON_NUM_THREADS=1 for a one-core comparison). Prints times and
ours / tokenizers ratios.
"""

from __future__ import annotations

import argparse
import json
import time

from scratchdl.text.corpora.translation import load_bible_pairs, preprocess, split_groups
from scratchdl.text.tokens.bpe import BPE, EOW


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--side", choices=("src", "tgt"), default="tgt")
    args = parser.parse_args()
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    pairs = load_bible_pairs()
    where = split_groups([p.group for p in pairs], 0.05, 0.08, 0)
    lines = [preprocess(getattr(p, args.side)).split() for p in pairs]
    train = [ws for ws, s in zip(lines, where, strict=True) if s == "train"]
    test = [ws for ws, s in zip(lines, where, strict=True) if s == "test"]
    words = [w for ws in train for w in ws]
    print(f"{args.side}: {len(words)} training words ({len(set(words))} distinct), "
          f"{sum(map(len, test))} test words")

    start = time.perf_counter()
    ours = BPE.learn(words, args.vocab_size)
    learn_ours = time.perf_counter() - start

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size, min_frequency=2, special_tokens=[], show_progress=False
    )
    text = [" ".join(w + EOW for w in ws) for ws in train]
    start = time.perf_counter()
    tok.train_from_iterator(text, trainer)
    learn_twin = time.perf_counter() - start
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
    print(f"merges: ours {len(ours.merges)}, tokenizers {len(merges)}, "
          f"equal: {ours.merges == merges}")

    test_text = [" ".join(w + EOW for w in ws) for ws in test]
    start = time.perf_counter()
    enc_ours = [ours.encode(ws) for ws in test]
    encode_ours = time.perf_counter() - start
    start = time.perf_counter()
    enc_twin = [e.tokens for e in tok.encode_batch(test_text)]
    encode_twin = time.perf_counter() - start
    print(f"test segmentation equal: {enc_ours == enc_twin}")
    for name, a, b in (("learn", learn_ours, learn_twin), ("encode", encode_ours, encode_twin)):
        print(f"{name:<8} ours {a * 1e3:9.1f} ms   tokenizers {b * 1e3:9.1f} ms   "
              f"ratio {a / b:6.2f}x")


if __name__ == "__main__":
    main()
