"""The C part of classroom: the send fan-out (classroom/rooms/_fanout.c) and the receive
path's unprotect, parse and per-SSRC bookkeeping (classroom/rooms/_receive.c), linked against Debian's libsrtp2
(libsrtp2-dev). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"classroom.rooms.{name}",
            sources=[f"classroom/rooms/{name}.c"],
            depends=["classroom/rooms/_srtp_session.h", "classroom/rooms/_receive_stats.h"],
            libraries=["srtp2"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
        )
        for name in ("_fanout", "_receive")
    ]
)
