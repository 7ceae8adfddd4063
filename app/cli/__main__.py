"""`python -m app.cli`: how the studio starts a worker process."""

from app.cli import main

main()
