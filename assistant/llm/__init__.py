"""Local language model engine: loading, split-softmax attention, generation."""
