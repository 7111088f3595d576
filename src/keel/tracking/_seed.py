"""One call to seed every random number generator a training script is likely to use."""

from __future__ import annotations

import importlib.util
import numbers
import os
import random
import sys
from typing import Any

from keel.errors import InvalidInput

__all__ = ["current_seed", "seed_everything"]

_MAX_SEED = 2**32 - 1  # NumPy's legacy RNG accepts seeds in [0, 2**32 - 1]
_seed: int | None = None


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global RNG and, when installed, PyTorch.

    Also sets ``PYTHONHASHSEED`` in ``os.environ`` so child processes (data loader workers,
    subprocesses) hash strings reproducibly; the running interpreter's hash seed was fixed
    at start-up and cannot change. PyTorch is imported only if it is installed, and CUDA
    devices are seeded only if CUDA is available. The seed is remembered for
    :func:`current_seed`, so runs can record it.

    Args:
        seed: A whole number in ``[0, 2**32 - 1]``.

    Returns:
        The seed, as an ``int``.

    Raises:
        InvalidInput: If ``seed`` is not a whole number in that range (``bool`` included).

    Example:
        >>> seed_everything(42)
        42
    """
    global _seed
    value = _validate(seed)
    random.seed(value)
    import numpy as np  # imported here so that importing keel stays cheap

    np.random.seed(value)
    if _torch_installed():
        import torch

        torch.manual_seed(value)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(value)
    os.environ["PYTHONHASHSEED"] = str(value)
    _seed = value
    return value


def current_seed() -> int | None:
    """Return the last seed given to :func:`seed_everything` in this process, or None."""
    return _seed


def _validate(seed: Any) -> int:
    # bool is an int subclass, but seed_everything(True) is always a mistake.
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        value = int(seed)
        if 0 <= value <= _MAX_SEED:
            return value
        got = f"{value}"
    else:
        got = f"{seed!r} ({type(seed).__name__})"
    raise InvalidInput(
        f"The 'seed' argument of seed_everything must be an int in [0, {_MAX_SEED}]. "
        f"Got {got} instead. Pass a non-negative whole number, e.g. seed_everything(42)."
    )


def _torch_installed() -> bool:
    if sys.modules.get("torch") is not None:
        return True
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
