"""``python -m cnnzoo ...`` (and ``torchrun ... -m cnnzoo train ...``) run the CLI."""

from .cli import main

raise SystemExit(main())
