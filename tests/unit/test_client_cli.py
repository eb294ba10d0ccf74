"""``lwm2m client`` refuses settings it could not honour before it starts."""

from __future__ import annotations

import pytest

from lwm2m.cli.main import main

CLIENT = ["client", "--endpoint", "urn:dev:cli", "--server", "coap://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--content-format", "lwm2m-cbor"], "11544 cannot be announced in an LwM2M 1.1"),
        (["--lwm2m", "1.0", "--content-format", "112"], "112 cannot be announced in an LwM2M 1.0"),
        (["--content-format", "xml"], "expected a number or a format name"),
    ],
)
def test_a_content_format_the_version_cannot_announce_is_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*CLIENT, *argv]) == 1
    assert message in capsys.readouterr().err
