"""``python -m wsctl``: the same as the ``wsctl`` command."""
from wsctl.cli import main

raise SystemExit(main())
