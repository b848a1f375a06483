"""Each libsrtp the C extensions can use (`aiortc_hooks.use_pylibsrtp`): the tests of the
native send fan-out and receive path run on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from classroom.rooms import aiortc_hooks, fanout, inbound


@pytest.fixture(params=["linked", "pylibsrtp"])
def libsrtp(request: pytest.FixtureRequest) -> Iterator[str]:
    """The sessions made during the test use Debian's libsrtp2 the extensions are linked
    against, or the one inside pylibsrtp; the linked one again after the test."""
    modules = [m for m in (fanout.native_module(), inbound.native_module()) if m is not None]
    assert len(modules) == 2, "the C extensions are not built"
    if request.param == "pylibsrtp":
        assert aiortc_hooks.use_pylibsrtp(modules) == "pylibsrtp's (OpenSSL)"
    assert {m.libsrtp() for m in modules} == {"linked" if request.param == "linked" else "handed"}
    try:
        yield str(request.param)
    finally:
        for module in modules:
            module.use_libsrtp(None)
