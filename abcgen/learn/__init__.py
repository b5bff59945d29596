"""Data to model: the corpus, the vocabulary, packed batches, the network and its checkpoints."""
