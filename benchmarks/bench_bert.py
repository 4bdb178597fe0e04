"""Our BERT forward vs Hugging Face's BertModel on the same MiniLM weights and the same batch.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_bert.py [--batch 32] [--repeats 5]
        [--threads N] [--device cpu|cuda] [--attn eager|sdpa]

The batch is --batch Austen sentences (or a fixed English sentence when Austen is not cached),
WordPiece-encoded and padded to the longest. Prints sentences/s of each and the ratio (ours /
HF time; the target is <= 1.5). --attn picks HF's attention kernel; ours runs its readable
attention unless --attn sdpa, which sets use_sdpa on our blocks too (the fused kernel). The
machine may be shared: run it a few times.
"""

import argparse
import os
import re
import statistics
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sentences(n: int) -> list[str]:
    try:
        from scratchdl.text.corpora import load_corpus

        text = load_corpus("austen", fetch=False)
        found = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s) > 40]
        return found[1000 : 1000 + n]
    except Exception:  # noqa: BLE001 - any missing corpus: a fixed sentence will do
        return ["It is a truth universally acknowledged, that a single man must want a wife."] * n


def timed(fn, device: torch.device, repeats: int) -> float:
    times = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--attn", choices=["eager", "sdpa"], default="eager")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import BertModel

    from scratchdl.models.text.bert_weights import load_minilm, minilm_dir

    device = torch.device(args.device)
    ours, wp = load_minilm(dropout=0.0, use_sdpa=args.attn == "sdpa")
    hf = BertModel.from_pretrained(str(minilm_dir()), attn_implementation=args.attn)
    ours, hf = ours.eval().to(device), hf.eval().to(device)
    rows = [wp.encode(s, max_len=128)[0] for s in sentences(args.batch)]
    t = max(map(len, rows))
    ids = torch.tensor([r + [0] * (t - len(r)) for r in rows], device=device)
    mask = ids != 0
    with torch.inference_mode():
        diff = ours(ids, None, mask)[0] - hf(input_ids=ids, attention_mask=mask.long())[0]
        t_ours = timed(lambda: ours(ids, None, mask), device, args.repeats)
        t_hf = timed(lambda: hf(input_ids=ids, attention_mask=mask.long()), device, args.repeats)
    n = len(rows)
    err = diff[mask].abs().max()
    print(f"batch {n} sentences x {t} pieces, {torch.get_num_threads()} threads, {device}, "
          f"attention {args.attn}; max |hidden diff| on real tokens {err:.2e}")  # fmt: skip
    print(f"  ours (scratchdl Bert)  {n / t_ours:8.1f} sentences/s")
    print(f"  Hugging Face BertModel {n / t_hf:8.1f} sentences/s")
    print(f"  ratio ours/HF time     {t_ours / t_hf:8.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
