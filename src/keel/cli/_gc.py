"""Garbage collection for a long command at the end of a short process (``keel predict``).

A scoring job imports about 2,000 modules (pandas, scikit-learn, SciPy, SQLAlchemy) whose
millions of objects live until the process ends, and makes almost no reference cycles
(fewer than a thousand objects over a million-row job). The collector's full passes
walked all those objects anyway: about 0.25 s of CPU time during the imports and 0.5 s
more in the interpreter's exit, after the summary was printed (busy machine, CPU time).

:class:`ProcessGc` pauses collection while the command imports and loads the model, then
freezes (:func:`gc.freeze`) what is alive before collection resumes, so the scoring
loop's collections look only at new objects and the exit looks at none of the frozen
ones. Frozen objects are still freed by reference counting; cycles among them are left
to the end of the process, which frees the memory anyway. Only for a process that ends
with the command: ``keel`` run as a program (:func:`keel.cli._main.main`), never a
caller that runs the command inside its own process (a test's ``CliRunner``).
"""

from __future__ import annotations

import gc

__all__ = ["ProcessGc"]


class ProcessGc:
    """Pause, then settle, the garbage collector around one command (see the module).

    Args:
        active: whether this process ends with the command; if not, every method does
            nothing.
    """

    def __init__(self, active: bool) -> None:
        self.active = active
        self._was_enabled = gc.isenabled()
        self._paused = False

    def pause(self) -> None:
        """Stop automatic collection (imports and model loading make few cycles)."""
        if self.active and not self._paused:
            self._paused = True
            gc.disable()

    def resume(self) -> None:
        """Freeze what is alive now and collect automatically again, as before
        :meth:`pause` (called when the work that makes garbage starts; again is a no-op)."""
        if self.active and self._paused:
            self._paused = False
            gc.freeze()
            if self._was_enabled:
                gc.enable()

    def settle(self) -> None:
        """The command is done: freeze every object left, so the exit skips them."""
        self.resume()
        if self.active:
            gc.freeze()
