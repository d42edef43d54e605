"""The pitch trackers by name: a new tracker is one module with a ``base.Tracker`` subclass and one
``register`` line below.

``TRACKERS`` is a live view of the registered names (``name in TRACKERS``, iteration, ``join``),
so modules that imported it see trackers registered later too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from vocalsep.errors import ConfigError
from vocalsep.melody.trackers.base import Tracker
from vocalsep.melody.trackers.crepe import CrepeTracker
from vocalsep.melody.trackers.pyin import PyinTracker

_REGISTRY: dict[str, type[Tracker]] = {}


class _Names(Sequence[str]):
    """The registered tracker names, in registration order."""

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's int-or-slice signature
        return tuple(_REGISTRY)[index]

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_REGISTRY))

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __repr__(self) -> str:
        return repr(tuple(_REGISTRY))


#: Names ``track_pitch(tracker=...)`` accepts.
TRACKERS: Sequence[str] = _Names()
DEFAULT_TRACKER = "crepe-tiny"


def register(tracker: type[Tracker]) -> type[Tracker]:
    """Make ``tracker`` available under ``tracker.name`` (returned unchanged, so it also serves as a decorator)."""
    if tracker.name in _REGISTRY and _REGISTRY[tracker.name] is not tracker:
        raise ValueError(f"a pitch tracker named {tracker.name!r} is already registered")
    _REGISTRY[tracker.name] = tracker
    return tracker


def unregister(name: str) -> None:
    """Remove a registered tracker (for tests that register their own)."""
    _REGISTRY.pop(name, None)


def get_tracker(name: str) -> type[Tracker]:
    """The tracker class registered as ``name``; ``ConfigError`` naming the known ones otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown pitch tracker {name!r} (use one of: {', '.join(TRACKERS)})")
    return _REGISTRY[name]


register(CrepeTracker)
register(PyinTracker)
