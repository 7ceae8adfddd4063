"""A judge head: a logistic layer on a base model's hidden states. Its features (read once per pair),
fitting, the label-only fast path that applies it, the instant judge, and the shipped default."""
