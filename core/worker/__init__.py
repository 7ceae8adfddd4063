"""Every job kind run by a worker process: the registry from a job's kind to its runner."""
