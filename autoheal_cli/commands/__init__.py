"""One module per subcommand; each `run(ctx, args)` returns an `Output` and prints nothing itself."""
