"""`python -m autoheal_cli` is the `autoheal` command."""

from autoheal_cli.main import main

raise SystemExit(main())
