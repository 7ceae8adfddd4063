"""The judge: GRAM-R²'s prompts, the verdict parser, the judging protocol (generative and fast
paths), ranking many responses, stored judgments, and the job that judges a dataset."""
