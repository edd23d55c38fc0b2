"""The one cache utility and the runtime that owns every cache."""
from __future__ import annotations

import threading

import pytest

from chalicelib.cache import TtlCache
from chalicelib.config import rebuild, runtime


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_its_ttl_and_not_a_moment_longer() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(5.0, 10, clock)
    cache.put("p3", "rules")
    clock.now += 4.9
    assert cache.get("p3") == "rules"
    clock.now += 0.1
    assert cache.get("p3") is None


def test_without_a_ttl_an_entry_lives_as_long_as_the_cache() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(None, 10, clock)
    cache.put("citizen", "w1")
    clock.now += 10**9
    assert cache.get("citizen") == "w1"


def test_a_full_cache_empties_before_it_takes_a_new_key() -> None:
    cache: TtlCache[int] = TtlCache(None, 2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("b", 3)  # a known key does not count as new
    assert (cache.get("a"), cache.get("b")) == (1, 3)
    cache.put("c", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (None, None, 4, 1)


def test_get_or_load_keeps_what_exists_and_not_what_does_not_exist_yet() -> None:
    cache: TtlCache[str] = TtlCache(5.0, 10)
    loads: list[str] = []

    def load_missing() -> str | None:
        loads.append("p4")
        return None

    assert cache.get_or_load("p4", load_missing) is None
    assert cache.get_or_load("p4", load_missing) is None
    assert loads == ["p4", "p4"]  # a phase saved a moment later is found at once
    assert cache.get_or_load("p3", lambda: "rules") == "rules"
    assert cache.get_or_load("p3", lambda: "other") == "rules"


def test_discard_makes_the_next_read_go_to_the_store() -> None:
    cache: TtlCache[str] = TtlCache(5.0, 10)
    cache.put("m1", "old")
    cache.discard("m1")
    cache.discard("never-there")
    assert cache.get("m1") is None


@pytest.mark.parametrize(("ttl_s", "entries_max"), [(0, 10), (-1.0, 10), (5.0, 0)])
def test_bounds_that_make_no_sense_are_refused(ttl_s: float, entries_max: int) -> None:
    with pytest.raises(ValueError):
        TtlCache(ttl_s, entries_max)


def test_the_runtime_builds_a_component_once_even_when_threads_race() -> None:
    made: list[int] = []
    start = threading.Barrier(8)

    def build() -> object:
        made.append(1)
        return object()

    rebuild()
    found: list[object] = []

    def ask() -> None:
        start.wait()
        found.append(runtime().component("thing", build))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len({id(f) for f in found}) == 1


def test_rebuild_starts_from_nothing_and_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_STAGE", "before")
    first = rebuild()
    first.cache("phase-rules", 5.0, 10).put("p3", "rules")
    monkeypatch.setenv("WALLET_STAGE", "after")
    assert runtime() is first  # nothing changes until someone rebuilds
    second = rebuild()
    assert runtime() is second and second.settings.stage == "after"
    assert second.cache("phase-rules", 5.0, 10).get("p3") is None
    monkeypatch.delenv("WALLET_STAGE")
    rebuild()
