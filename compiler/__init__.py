"""The RMT compiler: checked AST -> IR -> bytecode, the object format, asm and dump."""
from rmt.compiler.driver import CompileError, compile_full, compile_source

__all__ = ["CompileError", "compile_full", "compile_source"]
