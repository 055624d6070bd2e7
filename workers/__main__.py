"""`python -m workers worker [--concurrency N] [--beat]` and `python -m workers beat`."""

from workers.cli import main

main()
