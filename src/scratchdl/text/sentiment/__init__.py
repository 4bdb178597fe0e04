"""Sentence classification: the data pipeline (tokenize, vocabulary, padding) and the book's
BiLSTM (sec. 15.2) and TextCNN (sec. 15.3); trained by the text-classify task."""
