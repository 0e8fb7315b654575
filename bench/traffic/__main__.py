"""`python -m traffic` (with `bench` on PYTHONPATH)."""

from .cli import main

raise SystemExit(main())
