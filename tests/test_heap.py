"""The heap trimmer: glibc's malloc_trim every N samples of a stream, nothing where there is no glibc."""

from __future__ import annotations

import pytest

import vocalsep.heap as heap


def test_release_free_memory_runs_and_a_missing_malloc_trim_is_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    heap.release_free_memory()  # glibc here: returns the free pages, no error
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    heap.release_free_memory()


def test_the_trimmer_trims_once_every_n_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: calls.append(1))
    trimmer = heap.HeapTrimmer(1000)
    for _ in range(25):
        trimmer.advance(300)  # 7500 samples in blocks of 300
    assert len(calls) == 7
    heap.HeapTrimmer(0).advance(1)  # a zero period still counts in whole samples
