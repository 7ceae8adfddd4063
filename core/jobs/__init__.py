"""Long work as jobs: job records (progress, cancel, how a job ended) and the worker process."""
