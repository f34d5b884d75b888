"""One sub-command as data: its name, help, description, example, arguments and handler.

`autoheal_cli.main` registers every `Command` in `COMMANDS` the same way, and builds the top-level
help's examples from theirs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoheal_cli.commands.context import Context
from autoheal_cli.render import Output


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For a command that takes only the global flags."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line, in the top-level list of commands
    description: str  # the command's own --help
    run: Callable[[Context, argparse.Namespace], Output]
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    example: str = ""  # one command line for the top-level help (none: not shown)

    def register(self, commands: Any, parents: list[argparse.ArgumentParser]) -> None:
        """Add this command to `commands` (an argparse sub-parsers action)."""
        parser = commands.add_parser(
            self.name,
            parents=parents,
            help=self.help,
            description=self.description,
            epilog=f"example:\n  {self.example}" if self.example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.arguments(parser)
        parser.set_defaults(run=self.run)


def first_paragraph(doc: str | None) -> str:
    """A module docstring's first paragraph: a command's description."""
    return (doc or "").split("\n\n")[0]
