"""GRAM Studio's user-facing entry points: the `gram` CLI and the Gradio web app."""
