"""Training a judge: configs, the TRL trainer, task adaptation, the proving step, self-training."""
