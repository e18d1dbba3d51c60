"""JSON request bodies, parsed in one place with the limits AIS's Go decoder has.

Every route that reads a JSON body (list-objects, bucket create/destroy, get-batch, the fault
rules) calls `load_json`, so a hostile body is refused the same way everywhere, as a 400 with
AIS's error JSON. The stdlib parser alone would answer 500 for some inputs: 100,000 nested
brackets raise ``RecursionError``, ``1e400`` becomes ``inf`` (``int(inf)`` raises
``OverflowError`` later) and a 5,000-digit integer raises a ``ValueError`` whose message
advises ``sys.set_int_max_str_digits``. Go refuses the same bodies: numbers must fit 64 bits,
``NaN``/``Infinity`` are not JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aisloader.server.errors import EmuError, clip

__all__ = ["MAX_INT_DIGITS", "load_json"]

MAX_INT_DIGITS = 20  # uint64 max has 20 digits: longer integers cannot fit a Go field


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"number {clip(text, 24)} does not fit in 64 bits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {clip(text, 24)} is out of range")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def load_json(raw: bytes, what: str) -> Any:
    """Parse ``raw`` as JSON for the request ``what`` names (e.g. ``"list-objects request"``).

    Raises:
        EmuError: 400 when the body is not UTF-8 JSON, nests too deeply, or holds a number
            that does not fit 64 bits (or ``NaN``/``Infinity``).
    """
    try:
        return json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise EmuError(400, f"invalid {what}: JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EmuError(400, f"invalid {what}: body is not JSON: {clip(str(e), 200)}") from None
    except ValueError as e:  # the number hooks above
        raise EmuError(400, f"invalid {what}: {e}") from None
