"""The corpus tests are unit tests: no network (the guard of tests/unit applies here too)."""

from tests.unit.conftest import _no_network  # noqa: F401 (an autouse fixture)
