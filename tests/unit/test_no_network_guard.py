import socket

import pytest

from tests.unit.conftest import NetworkAccessInUnitTest


def test_unit_tests_cannot_open_connections() -> None:
    with pytest.raises(NetworkAccessInUnitTest):
        socket.create_connection(("127.0.0.1", 9))
