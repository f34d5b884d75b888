"""One module per subcommand, each declaring its `Command` (`command.py`: name, help, example,
arguments, handler); each `run(ctx, args)` returns an `Output` and prints nothing itself."""
