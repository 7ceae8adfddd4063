"""GRAM Studio's core: the model (prompting, backends, judging, training) and data handling."""
