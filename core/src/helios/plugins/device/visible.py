"""Which GPUs ``CUDA_VISIBLE_DEVICES`` leaves to this process, decided as CUDA decides."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence

from helios.plugins._host.echo import quote
from helios.plugins.device.info import GPU, RawDevice

__all__ = ["QUOTE", "VISIBLE_ENV", "select_visible", "visible_gpus"]

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
QUOTE = "'"  # bad values are quoted back as Python would, escaped and cut (echo.quote)


_ORDINAL = re.compile(r"\+?(\d+)")  # CUDA reads an ordinal like strtoul: "1gpu" is 1
_ORDINAL_DIGITS = 18  # more significant digits than any machine has devices: invalid


def select_visible(uuids: Sequence[str], visible: str | None) -> list[int]:
    """Indices (into ``uuids``, NVML order) of the devices CUDA exposes, in CUDA's order.

    ``visible`` is CUDA_VISIBLE_DEVICES: None shows all, "" none; otherwise a comma list of
    ordinals or "GPU-" UUID prefixes, read up to the first invalid entry. Naming one device
    twice hides every device, as CUDA does. MIG UUIDs are not resolved (they end the list).
    The work grows with the devices and the entries read, never with their product.
    """
    if visible is None:
        return list(range(len(uuids)))
    by_uuid = _UUIDIndex(uuids)
    chosen: list[int] = []
    seen: set[int] = set()
    for entry in _entries(visible):  # at most len(uuids) + 1 entries are ever read
        index = _resolve(entry.strip(), len(uuids), by_uuid)
        if index is None:
            break
        if index in seen:
            return []
        seen.add(index)
        chosen.append(index)
    return chosen


def _entries(visible: str) -> Iterator[str]:
    """The comma-separated entries of ``visible``, one at a time (the value may be huge)."""
    start = 0
    while True:
        end = visible.find(",", start)
        if end < 0:
            yield visible[start:]
            return
        yield visible[start:end]
        start = end + 1


class _UUIDIndex:
    """Finds the one device whose UUID starts with a prefix, case-insensitively, by bisection."""

    def __init__(self, uuids: Sequence[str]) -> None:
        pairs = sorted((uuid.lower(), index) for index, uuid in enumerate(uuids))
        self._keys = [key for key, _ in pairs]
        self._indices = [index for _, index in pairs]

    def unique(self, prefix: str) -> int | None:
        """The index of the only UUID starting with ``prefix``; None for none or several."""
        prefix = prefix.lower()
        at = bisect.bisect_left(self._keys, prefix)
        if at == len(self._keys) or not self._keys[at].startswith(prefix):
            return None
        if at + 1 < len(self._keys) and self._keys[at + 1].startswith(prefix):
            return None
        return self._indices[at]


def _resolve(entry: str, count: int, by_uuid: _UUIDIndex) -> int | None:
    if entry[:4].upper() == "GPU-":
        return by_uuid.unique(entry)
    ordinal = _ORDINAL.match(entry)
    if ordinal is None:
        return None
    digits = ordinal.group(1).lstrip("0") or "0"
    if len(digits) > _ORDINAL_DIGITS:  # never int() a huge digit string: it is slow or refused
        return None
    index = int(digits)
    return index if index < count else None


def visible_gpus(devices: Sequence[RawDevice], visible: str | None) -> tuple[tuple[GPU, ...], str]:
    chosen = select_visible([d.uuid for d in devices], visible)
    gpus = tuple(
        GPU(ordinal, devices[i].name, devices[i].compute_capability)
        for ordinal, i in enumerate(chosen)
    )
    if gpus:
        return gpus, ""
    if not devices:
        return gpus, "the NVIDIA driver reports no GPU"
    plural = "s" if len(devices) > 1 else ""
    value = quote(visible or "", quote_char=QUOTE)  # None shows every device: not here
    return gpus, f"{VISIBLE_ENV}={value} hides the machine's {len(devices)} GPU{plural}"
