"""The C part of classroom: the send fan-out (classroom/rooms/_fanout.c), linked against
Debian's libsrtp2 (libsrtp2-dev). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "classroom.rooms._fanout",
            sources=["classroom/rooms/_fanout.c"],
            libraries=["srtp2"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
        )
    ]
)
