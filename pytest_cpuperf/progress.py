"""The progress callback type: one line of what a long step is doing, shown to the user.

Imports nothing from the package, so any module can use it.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
"""Called with one line of progress (the plugin prints it; tests may collect it)."""
