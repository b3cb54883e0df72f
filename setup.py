"""Only the build step pyproject.toml cannot declare: the cffi extension of the
C VM (rmt_vm._rmt_cffi, built from vm_kernel/core/*.c by rmt_vm/_build.py).
All metadata stays in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["rmt_vm/_build.py:ffibuilder"])
