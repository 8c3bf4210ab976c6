"""Import Gradio without its stub writer: half of `import gradio`, which `qa serve` waits for.

Gradio (6.x) regenerates the `.pyi` type stub of every component class each time it is imported:
it parses each component's source file and rewrites the stub if it differs
(`gradio.component_meta.create_or_modify_pyi`). That is for editors and type checkers only, and
it was ~2.5 of the ~5 CPU seconds `import gradio` took on the 2-core machine, all of it before
the chat page can be served. `skip_gradio_stubs` makes the writer a no-op for this process;
nothing else about Gradio changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

_MODULE = "gradio.component_meta"


def _no_stub(*_args, **_kwargs) -> None:
    """Stands in for `create_or_modify_pyi`: the server never needs the stubs."""


class _SkipStubs(importlib.abc.MetaPathFinder):
    """Finds `gradio.component_meta` as usual, then replaces its stub writer once it has run
    (its component metaclass looks the writer up by name on every class it creates)."""

    def find_spec(self, name: str, path=None, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)  # once is enough; the search below must not find us again
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = _no_stub

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def skip_gradio_stubs() -> None:
    """Call before Gradio is imported (later calls, or with Gradio loaded, do nothing)."""
    if _MODULE in sys.modules or any(isinstance(f, _SkipStubs) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SkipStubs())
