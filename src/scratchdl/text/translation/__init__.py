"""Translation: the encoder-decoder model (seq2seq). Its data (the parallel Bible) is in
scratchdl.text.corpora.translation, BLEU in scratchdl.text.metrics.bleu."""
