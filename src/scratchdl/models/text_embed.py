"""Registry entries of the word-embedding and sentence-classification models: word2vec
(skip-gram, CBOW; the word2vec task) and the book's BiLSTM and TextCNN sentiment classifiers
(sec. 15.2-15.3; the text-classify task). The classes live in scratchdl.text and are imported
when a model is built.
"""

from __future__ import annotations

from typing import Any

from scratchdl.models.registry import register_model

WORD2VEC_OPTIONS: dict[str, Any] = {"dim": 100}
BIRNN_OPTIONS: dict[str, Any] = {
    "embed_size": 50,  # 50 to start from GloVe 6B 50d
    "hidden_size": 100,
    "num_layers": 2,
    "dropout": 0.0,  # on the pooled features, before the output layer
}
TEXTCNN_OPTIONS: dict[str, Any] = {
    "embed_size": 50,
    "kernel_sizes": [3, 4, 5],
    "num_channels": [100, 100, 100],
    "dropout": 0.5,
    "two_channels": True,  # the book's second, frozen copy of the pretrained embedding
}


def _word2vec(mode: str):
    def build(*, vocab_size: int, dim: int):
        from scratchdl.text.embeddings.word2vec import Word2Vec

        return Word2Vec(vocab_size, dim, mode)

    build.__doc__ = f"word2vec {mode} with negative sampling (book sec. 15.1-15.4)."
    return build


for _mode in ("skipgram", "cbow"):
    register_model(_mode, "word-embedding", options=WORD2VEC_OPTIONS)(_word2vec(_mode))


@register_model("birnn-sentiment", "text-classifier", options=BIRNN_OPTIONS)
def birnn_sentiment(*, vocab_size: int, num_classes: int, **options: Any):
    """Bidirectional LSTM sentence classifier (book sec. 15.2)."""
    from scratchdl.text.sentiment.birnn import BiRNNClassifier

    return BiRNNClassifier(vocab_size, num_classes, **options)


@register_model("textcnn", "text-classifier", options=TEXTCNN_OPTIONS)
def textcnn(*, vocab_size: int, num_classes: int, **options: Any):
    """TextCNN sentence classifier (Kim 2014; book sec. 15.3)."""
    from scratchdl.text.sentiment.textcnn import TextCNN

    return TextCNN(vocab_size, num_classes, **options)
