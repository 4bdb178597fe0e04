"""GRU encoder-decoder: masked loss, padding, greedy and beam search (exact by enumeration),
bad input, and the "seq2seq" recipe task end to end with exact resume."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.text.seq2seq import (
    Seq2Seq,
    Seq2SeqEncoder,
    beam_translate,
    greedy_decode,
    masked_cross_entropy,
    teacher_forcing_input,
    translate,
)
from scratchdl.recipes import load_recipe
from scratchdl.runner import RunContext, run_recipe
from scratchdl.text.tokens.vocab import Vocab
from scratchdl.train.checkpoint import load_checkpoint
from tests.text.test_translation_data import bible_pairs, cache_tatoeba_fixture

TIGHT = {"rtol": 0, "atol": 1e-12}  # float64 throughout


def random_batch(gen: torch.Generator, batch: int, steps: int, vocab: int):
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps  # the longest fills the batch
    ids = torch.randint(0, vocab, (batch, steps), generator=gen)
    return ids, lengths


# ----------------------------------------------------------------------------- masked loss


def test_masked_cross_entropy_is_mean_over_real_tokens() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 11, generator=gen, dtype=torch.float64)
    target, valid = random_batch(gen, 5, 7, 11)
    valid[3] = 1  # a one-token row
    loss = masked_cross_entropy(logits, target, valid)
    mask = torch.arange(7) < valid[:, None]
    twin = F.cross_entropy(logits[mask], target[mask])  # only the real tokens
    torch.testing.assert_close(loss, twin, **TIGHT)
    ignored = target.masked_fill(~mask, -100)  # torch's own padding mechanism
    torch.testing.assert_close(loss, F.cross_entropy(logits.transpose(1, 2), ignored), **TIGHT)


def test_padding_never_changes_the_loss() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 6, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    target, valid = random_batch(gen, 4, 6, 9)
    # three more padded positions, holding arbitrary logits and targets
    more_logits = torch.cat([logits, torch.randn(4, 3, 9, generator=gen, dtype=torch.float64)], 1)
    more_target = torch.cat([target, torch.randint(0, 9, (4, 3), generator=gen)], 1)
    a = masked_cross_entropy(logits, target, valid)
    b = masked_cross_entropy(more_logits, more_target, valid)
    torch.testing.assert_close(a, b, **TIGHT)
    a.backward()
    pad = torch.arange(6) >= valid[:, None]
    assert logits.grad[pad].abs().max() == 0 and logits.grad[~pad].abs().max() > 0

    def book_loss(lg, tg, vl):  # the book's MaskedSoftmaxCELoss: divides by all T positions
        mask = (torch.arange(tg.shape[1]) < vl[:, None]).double()
        ce = F.cross_entropy(lg.transpose(1, 2), tg, reduction="none")
        return (ce * mask).mean(dim=1).mean()

    assert not torch.isclose(
        book_loss(logits, target, valid), book_loss(more_logits, more_target, valid)
    )


def test_masked_cross_entropy_rejects_bad_shapes() -> None:
    with pytest.raises(UserError, match="logits"):
        masked_cross_entropy(
            torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64), torch.ones(2)
        )
    with pytest.raises(UserError, match="valid_len"):
        masked_cross_entropy(
            torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.int64), torch.ones(3)
        )


def test_teacher_forcing_input_shifts_right() -> None:
    tgt = torch.tensor([[5, 6, 3], [7, 3, 1]])
    assert teacher_forcing_input(tgt, bos=2).tolist() == [[2, 5, 6], [2, 7, 3]]


# ----------------------------------------------------------------------------- encoder


def test_scratch_and_torch_encoders_agree_and_ignore_padding() -> None:
    torch.manual_seed(0)
    fused = Seq2SeqEncoder(13, 6, 8, num_layers=2, impl="torch").double().eval()
    scratch = Seq2SeqEncoder(13, 6, 8, num_layers=2, impl="scratch").double().eval()
    scratch.load_state_dict(fused.state_dict())
    gen = torch.Generator().manual_seed(2)
    src, lengths = random_batch(gen, 5, 7, 13)
    lengths[4] = 1
    out_a, state_a = fused(src, lengths)
    out_b, state_b = scratch(src, lengths)
    torch.testing.assert_close(out_a, out_b, **TIGHT)
    torch.testing.assert_close(state_a, state_b, **TIGHT)
    assert out_a.shape == (7, 5, 8) and state_a.shape == (2, 5, 8)
    assert out_a[1:, 4].abs().max() == 0  # nothing after a sequence's end
    gru = nn.GRU(6, 8, num_layers=2).double()
    gru.load_state_dict(fused.rnn.state_dict())
    for b in range(5):  # each row alone, unpadded, through plain nn.GRU
        x = fused.embedding(src[b, : lengths[b]]).unsqueeze(1)
        out, state = gru(x)
        torch.testing.assert_close(state[:, 0], state_a[:, b], **TIGHT)
        torch.testing.assert_close(out[:, 0], out_a[: lengths[b], b], **TIGHT)


def test_source_checks() -> None:
    model = Seq2Seq(10, 10, 4, 4, 1, max_len=5)
    with pytest.raises(UserError, match="max_len"):
        model.encode(torch.zeros(1, 6, dtype=torch.int64), torch.tensor([6]))
    with pytest.raises(UserError, match="valid lengths"):
        model.encode(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([0, 3]))
    with pytest.raises(UserError, match="int64"):
        model.encode(torch.zeros(2, 3), torch.tensor([1, 3]))
    with pytest.raises(UserError, match="max_len"):
        Seq2Seq(10, 10, 4, 4, 1, max_len=0)


# ----------------------------------------------------------------------------- decoding


def tiny_model(vocab: int, max_len: int, seed: int, impl: str = "torch") -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(vocab, vocab, 5, 6, 2, impl=impl, max_len=max_len).double().eval()
    with torch.no_grad():  # random weights big enough that choices are far from ties
        for p in model.parameters():
            p.mul_(3)
    return model


def sequence_log_prob(model: Seq2Seq, src, src_len, tokens: list[int], bos: int) -> float:
    """log P(tokens | src) by teacher forcing (tokens include <eos> if it ends with one)."""
    tgt = torch.tensor([tokens])
    logits = model(src, src_len, teacher_forcing_input(tgt, bos))
    return F.log_softmax(logits, -1)[0].gather(1, tgt[0, :, None]).sum().item()


@pytest.mark.parametrize("alpha", [0.0, 0.75, 2.0])
def test_wide_beam_finds_the_best_sequence_by_enumeration(alpha: float) -> None:
    vocab, max_len, bos, eos = 4, 3, 1, 3
    others = [t for t in range(vocab) if t != eos]
    for seed in range(4):
        model = tiny_model(vocab, max_len, seed)
        src, src_len = torch.tensor([[2, 0, 3]]), torch.tensor([3])
        candidates = [
            list(p) + [eos] for n in range(max_len) for p in itertools.product(others, repeat=n)
        ]
        candidates += [list(p) for p in itertools.product(others, repeat=max_len)]  # cut off
        assert len(candidates) == 1 + 3 + 9 + 27
        scored = []
        for seq in candidates:
            log_p = sequence_log_prob(model, src, src_len, seq, bos)
            scored.append((log_p / len(seq) ** alpha, seq, log_p))
        best_score, best_seq, best_log_p = max(scored)
        width = vocab**max_len
        hyp = beam_translate(model, src, src_len, bos, eos, beam_size=width, alpha=alpha)[0]
        assert hyp.tokens == [t for t in best_seq if t != eos]
        assert hyp.score == pytest.approx(best_score, abs=1e-10)
        assert hyp.log_prob == pytest.approx(best_log_p, abs=1e-10)


def test_beam_of_one_is_greedy_and_batching_changes_nothing() -> None:
    vocab, bos, eos = 9, 1, 2
    model = tiny_model(vocab, max_len=8, seed=5)
    with torch.no_grad():
        model.decoder.dense.bias[eos] += 1.5  # let some sentences end before max_len
    gen = torch.Generator().manual_seed(3)
    src, src_len = random_batch(gen, 12, 6, vocab)
    greedy = greedy_decode(model, src, src_len, bos, eos)
    beam1 = beam_translate(model, src, src_len, bos, eos, beam_size=1)
    assert [h.tokens for h in beam1] == greedy
    assert len({len(g) for g in greedy}) > 1  # both early <eos> and longer outputs occur
    beam3 = beam_translate(model, src, src_len, bos, eos, beam_size=3, alpha=0.75)
    for b in range(12):  # each sentence alone, without padding
        alone = (src[b : b + 1, : src_len[b]], src_len[b : b + 1])
        assert greedy_decode(model, *alone, bos, eos) == [greedy[b]]
        one = beam_translate(model, *alone, bos, eos, beam_size=3, alpha=0.75)[0]
        assert one.tokens == beam3[b].tokens
        assert one.score == pytest.approx(beam3[b].score, abs=1e-10)


def test_scratch_impl_decodes_like_torch_impl() -> None:
    a = tiny_model(7, max_len=5, seed=9, impl="torch")
    b = tiny_model(7, max_len=5, seed=0, impl="scratch")
    b.load_state_dict(a.state_dict())
    src, src_len = torch.tensor([[3, 4, 5], [6, 2, 0]]), torch.tensor([3, 2])
    assert greedy_decode(a, src, src_len, 1, 2) == greedy_decode(b, src, src_len, 1, 2)
    ha, hb = beam_translate(a, src, src_len, 1, 2, 3), beam_translate(b, src, src_len, 1, 2, 3)
    assert [h.tokens for h in ha] == [h.tokens for h in hb]


def test_bad_decoding_input_is_a_user_error() -> None:
    model = tiny_model(6, max_len=4, seed=0)
    src, src_len = torch.tensor([[3, 4]]), torch.tensor([2])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(UserError, match="beam_size"):
            beam_translate(model, src, src_len, 1, 2, bad)
    with pytest.raises(UserError, match="max_len"):
        greedy_decode(model, src, src_len, 1, 2, max_len=0)
    vocab = Vocab([["a", "b"]], reserved=["<pad>", "<bos>", "<eos>"])
    with pytest.raises(UserError, match="at most 3"):
        translate(model, [["a", "b", "a", "b"]], vocab, vocab)
    with pytest.raises(UserError, match="beam_size"):
        translate(model, [["a"]], vocab, vocab, beam_size=0)


def test_translate_does_not_depend_on_batch_size() -> None:
    vocab = Vocab([list("abcdefg")], reserved=["<pad>", "<bos>", "<eos>"])
    model = tiny_model(len(vocab), max_len=6, seed=4)
    sentences = [list("abc"), list("g"), list("fedcb"), list("aa")]
    for beam in (1, 3):
        whole = translate(model, sentences, vocab, vocab, beam_size=beam, alpha=0.75)
        ones = translate(model, sentences, vocab, vocab, beam_size=beam, alpha=0.75, batch_size=1)
        assert whole == ones and len(whole) == 4
        assert all(isinstance(t, str) for s in whole for t in s)
    assert not model.training  # translate restores the mode it found


# ----------------------------------------------------------------------------- recipe task

TINY = [
    "data.dataset=tatoeba-eng-fra",
    "data.max_tokens=8",
    "data.min_freq=1",
    "data.val_fraction=0.2",
    "data.test_fraction=0.2",
    "data.batch_size=8",
    "model.embed_size=8",
    "model.hidden_size=12",
    "model.dropout=0.1",
    "decode.beam_size=2",
    "decode.examples=3",
]


@pytest.fixture
def tatoeba_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SCRATCHDL_DATA", str(data_dir))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")  # never the network
    cache_tatoeba_fixture(data_dir)


@pytest.mark.slow
def test_seq2seq_task_runs_and_resumes_exactly(
    tatoeba_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_recipe("seq2seq-bible-en-es", [*TINY, "train.epochs=2"])
    assert cfg["schedule"]["name"] == "cosine"  # the lr schedule must resume too
    full = run_recipe(cfg, out=tmp_path / "full", quiet=True)

    log_epoch = RunContext.log_epoch

    def interrupt_after_first(self: RunContext, epoch: int, row: dict) -> None:
        log_epoch(self, epoch, row)  # checkpoint is written, epoch logged: now Ctrl-C
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "log_epoch", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(cfg, out=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(RunContext, "log_epoch", log_epoch)
    resumed = run_recipe(cfg, resume=tmp_path / "cut", quiet=True)
    a, b = full["final"], resumed["final"]
    for key in (
        "train_loss",
        "val_loss",
        "val_bleu",
        "test_bleu_greedy",
        "test_bleu_beam",
        "test_loss",
    ):
        assert a[key] == b[key], key
    assert full["metric"] == "test_bleu_beam" and 0 <= full["value"] <= 100
    sa = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["modules"]["model"]
    sb = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["modules"]["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    rows = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2]
    assert a["train_loss"] < json.loads(rows[0])["train_loss"]  # it learns something
    tsv = (tmp_path / "full" / "test_translations.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[0].split("\t") == ["ref", "source", "reference", "greedy", "beam"]
    assert len(tsv) == 1 + a["test_pairs"] and a["test_pairs"] > 0
    assert (tmp_path / "full" / "examples.txt").read_text(encoding="utf-8").count("beam:") == 3
    assert Vocab.load(tmp_path / "full" / "tgt_vocab.json").eos == 3


@pytest.mark.slow
def test_seq2seq_task_with_bpe_units_reports_word_bleu(
    tatoeba_cache: None, tmp_path: Path
) -> None:
    from scratchdl.text.tokens.bpe import BPE

    cfg = load_recipe(
        "seq2seq-bible-en-es",
        [*TINY, "data.tokenizer=bpe", "data.bpe_vocab=40", "data.max_tokens=20",
         "model.max_len=24", "train.epochs=1"],
    )
    out = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = out["final"]
    assert final["test_pairs"] > 0 and 0 <= final["test_bleu_beam"] <= 100
    bpe = BPE.load(tmp_path / "run" / "tgt_bpe.json")
    assert len(bpe) <= 40 and (tmp_path / "run" / "src_bpe.json").is_file()
    rows = (tmp_path / "run" / "test_translations.tsv").read_text(encoding="utf-8").splitlines()
    for row in rows[1:]:
        reference, greedy = row.split("\t")[2:4]
        assert "\u2581" not in reference + greedy  # words, not subwords, are scored and saved
    bad_settings = (("data.tokenizer=chars", "data.tokenizer"), ("data.bpe_vocab=0", "bpe_vocab"))
    for bad, match in bad_settings:
        with pytest.raises(UserError, match=match):
            run_recipe(load_recipe("seq2seq-bible-en-es", [*TINY, bad]), out=tmp_path / "x",
                       quiet=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "model"),
    [
        ("seq2seq-attn-bible-en-es", ["model.embed_size=8", "model.hidden_size=12"]),
        ("transformer-bible-en-es", ["model.d_model=16", "model.dim_feedforward=16",
                                     "model.num_layers=1", "schedule.warmup_steps=2"]),
    ],
)
def test_attention_recipes_run_and_plot_their_alignment(
    tatoeba_cache: None, tmp_path: Path, recipe: str, model: list[str]
) -> None:
    tiny = [s for s in TINY if not s.startswith("model.")]
    cfg = load_recipe(recipe, [*tiny, *model, "data.tokenizer=word", "train.epochs=1"])
    final = run_recipe(cfg, out=tmp_path / "run", quiet=True)["final"]
    assert 0 <= final["test_bleu_beam"] <= 100 and final["train_loss"] > 0
    assert (tmp_path / "run" / "alignment.png").is_file()
    assert (tmp_path / "run" / "alignment.pdf").is_file()


def test_seq2seq_task_checks_its_config(tatoeba_cache: None, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="max_len"):
        run_recipe(
            load_recipe("seq2seq-bible-en-es", [*TINY, "model.max_len=5"]),
            out=tmp_path / "a",
            quiet=True,
        )
    with pytest.raises(UserError, match="unknown"):
        load_recipe("seq2seq-bible-en-es", ["model.name=transformer"])
    with pytest.raises(UserError, match="unknown recurrent impl"):
        run_recipe(
            load_recipe("seq2seq-bible-en-es", [*TINY, "model.impl=cuda"]),
            out=tmp_path / "b",
            quiet=True,
        )


@pytest.mark.slow
def test_bible_recipe_one_short_epoch(tmp_path: Path) -> None:
    bible_pairs()  # skips when the Debian modules are not here
    cfg = load_recipe(
        "seq2seq-bible-en-es",
        [
            "train.epochs=1",
            "data.train_limit=128",
            "data.val_fraction=0.01",
            "data.test_fraction=0.02",  # ~450 verses: decoding the full 2,231 is slow
            "model.embed_size=16",
            "model.hidden_size=16",
            "model.num_layers=1",
            "model.dropout=0.0",
            "decode.beam_size=2",
        ],
    )
    assert cfg["train"]["grad_clip"] > 0 and cfg["optimizer"]["name"] == "adam"
    final = run_recipe(cfg, out=tmp_path / "run", quiet=True)["final"]
    assert final["test_pairs"] > 200 and final["train_pairs"] == 128
    assert {"test_bleu_greedy", "test_bleu_beam", "val_bleu"} <= set(final)


@pytest.mark.parametrize(
    ("override", "match"), [("decode.beam_size=0", "beam_size"), ("decode.alpha=-1.0", "alpha")]
)
def test_bad_decode_settings_fail_before_any_training(override: str, match: str) -> None:
    from tests.conftest import run_cli

    proc = run_cli("run", "seq2seq-bible-en-es", "--set", override, "--quiet")
    assert proc.returncode == 2
    assert match in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
