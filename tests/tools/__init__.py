"""Developer tools run from the Makefile (`python -m tests.tools.<name>`)."""
