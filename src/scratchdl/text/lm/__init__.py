"""Language models: recurrent (rnnlm: RNNLM, ClozeLM), Kneser-Ney n-grams (ngram), decoding
(generate), the LM tasks' corpus data and batch stream (data), held-out scoring and sample.txt
(evaluate). The tasks themselves are in scratchdl.tasks.language_model and scratchdl.tasks.ngram."""
