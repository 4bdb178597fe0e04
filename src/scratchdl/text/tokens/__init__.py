"""Tokenization and vocabulary: clean_text and tokenize (tokenize), Vocab (vocab), training
batches of token ids (batches), n-gram counts and Zipf's law (stats)."""
