"""`python -m deploy` is `tape` (for subprocesses that should not depend on PATH)."""

from deploy.cli import main

main()
