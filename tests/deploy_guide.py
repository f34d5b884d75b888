"""docs/deploy.md as the tests read it: the shell commands of its code blocks, whether each is marked as
needing an AWS account, the local rehearsal block, and the stack parameters it names."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
#: The trailing comment of a command a test cannot run.
AWS_MARK = "# needs an AWS account"
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
#: The rehearsal block starts the local stack; the CLI commands after it talk to it.
LOCAL_SERVER = "python -m hyperpod_local"

_FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
_TABLE_ROW = re.compile(r"^\|(.*)\|\s*$")
_PROSE_PARAMETER = re.compile(r"parameter `([A-Za-z0-9]+)`|`([A-Za-z0-9]+)` parameter")
_OVERRIDE = re.compile(r"^([A-Z][A-Za-z0-9]*)=")
_OUTPUT = re.compile(r"`([A-Za-z0-9]+)` output")


@dataclass(frozen=True)
class Command:
    """One shell command: comments removed, continuation lines joined."""

    text: str
    needs_aws: bool
    block: int
    line: int

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


def code_blocks(markdown: str) -> list[tuple[int, list[str]]]:
    """Each shell code block: the line number of its first line, and its lines."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    start, shell = 0, False
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = _FENCE.match(line.strip())
        if fence and current is None:
            current, start, shell = [], number + 1, fence.group(1).lower() in SHELL_FENCES
        elif line.strip() == "```" and current is not None:
            if shell:
                blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise ValueError(f"{GUIDE.name}: a code block opened on line {start - 1} is never closed")
    return blocks


def commands(markdown: str) -> list[Command]:
    """Every command of every shell block, in order (full-line comments and blank lines skipped)."""
    found: list[Command] = []
    for block, (start, lines) in enumerate(code_blocks(markdown)):
        pending, first = "", 0
        for offset, raw in enumerate(lines):
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            first = first if pending else start + offset
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            full = pending + line
            pending = ""
            text = shlex.join(shlex.split(full, comments=True))
            found.append(Command(text, full.rstrip().endswith(AWS_MARK), block, first))
        if pending:
            raise ValueError(f"{GUIDE.name}: line {first} continues past the end of its block")
    return found


def rehearsal(markdown: str) -> list[Command]:
    """The local rehearsal: the block whose first command starts the local stack."""
    found = commands(markdown)
    blocks = {c.block for c in found if c.text.startswith(LOCAL_SERVER)}
    if len(blocks) != 1:
        raise ValueError(f"{GUIDE.name}: expected one block starting `{LOCAL_SERVER}`, found {len(blocks)}")
    (block,) = blocks
    return [c for c in found if c.block == block]


def parameter_names(markdown: str) -> set[str]:
    """Stack parameters the guide names: its parameter table's first column, `Name=value` overrides in
    its commands, and prose that says parameter `Name` (or `Name` parameter)."""
    names: set[str] = set()
    in_table = False
    for line in markdown.splitlines():
        row = _TABLE_ROW.match(line.strip())
        if not row:
            in_table = False
            continue
        first = row.group(1).split("|")[0].strip()
        if first.lower() == "parameter":
            in_table = True
        elif in_table and not set(first) <= set("-: "):
            names.update(re.findall(r"`([A-Za-z0-9]+)`", first))
    for match in _PROSE_PARAMETER.finditer(markdown):
        names.add(match.group(1) or match.group(2))
    for command in commands(markdown):
        names.update(m.group(1) for word in command.words if (m := _OVERRIDE.match(word)))
    return names


def output_names(markdown: str) -> set[str]:
    """Stack outputs the guide names (the `Name` output)."""
    return set(_OUTPUT.findall(markdown))
