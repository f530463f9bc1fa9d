"""``python -m aerofs_pipelines.cli``: the ``aerofs`` command."""

from aerofs_pipelines.cli import main

raise SystemExit(main())
