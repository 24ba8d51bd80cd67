"""Load a script of the project's ``tools/`` folder as a module, for tests.

The tools are scripts, not a package, so tests load them by path. A tool is registered in
``sys.modules`` under its file name before it runs (a dataclass looks its module up there while
the class is built), and the ``tools/`` folder is first on ``sys.path`` while it runs, as when
the script is started with ``python tools/<name>.py``, so a tool can import its sibling tools.
The tools that load a sibling by path themselves (``rep_accuracy`` loads ``accuracy_table``)
use the same names, so every test and tool shares one instance of each tool.

Example
-------
>>> ra = load_tool("rep_accuracy")  # doctest: +SKIP
>>> ra.main(["--sets", "1"])  # doctest: +SKIP
"""

# pyright: strict

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import PROJECT_ROOT

#: The folder of the tool scripts.
TOOLS_DIR = PROJECT_ROOT / "tools"


def load_tool(name: str) -> ModuleType:
    """The tool script ``tools/<name>.py`` as a module, loaded once per test session.

    Parameters
    ----------
    name : str
        The script's file name without ``.py`` (``"rep_accuracy"``); also its module name.

    Returns
    -------
    ModuleType
        The executed module, registered as ``sys.modules[name]``. If that entry already holds
        the module of this file (an earlier call, or a tool that loaded its sibling), that
        module is returned without running the script again.

    Raises
    ------
    ValueError
        If `name` is not a bare module name (a path or a name with ``.py``).
    ImportError
        If ``tools/<name>.py`` does not exist, or ``sys.modules[name]`` is another module.
        Any error the script raises while it runs propagates, and nothing stays registered
        under `name`.
    """
    if not name.isidentifier():
        raise ValueError(f"tool name must be a bare module name such as 'bench', not {name!r}")
    path = TOOLS_DIR / f"{name}.py"
    if not path.is_file():
        raise ImportError(f"tool script not found: {path}", name=name, path=str(path))
    loaded = sys.modules.get(name)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
        if isinstance(origin, str) and Path(origin).resolve() == path.resolve():
            return loaded
        raise ImportError(
            f"cannot load {path} as module {name!r}: sys.modules[{name!r}] is already "
            f"{origin if isinstance(origin, str) else loaded!r}",
            name=name,
            path=str(path),
        )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot build an import spec for {path}", name=name, path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(TOOLS_DIR))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(TOOLS_DIR))
    return module
