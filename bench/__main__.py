"""``python -m bench``: run every workload on every runtime; see run.py."""

from bench.run import main

raise SystemExit(main())
