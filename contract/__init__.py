"""The contracts every stage builds on, and nothing else: the instruction set, the object and
weights formats, the hook specs, the engine protocol and the host codecs.  Nothing here imports
a pipeline stage (the layer contract in pyproject.toml checks it); the C headers, the Python
ABI mirrors and the format docs are generated from these modules (`python -m rmt.contract.gen`).
"""
