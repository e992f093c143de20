"""The collector pause of a run: off inside, objects frozen after, thawed at session end."""

from __future__ import annotations

import gc

import pytest

from pytest_fgbmk import gc_pause
from pytest_fgbmk.gc_pause import collector_paused, thaw


@pytest.fixture(autouse=True)
def _restore():
    was = gc.isenabled()
    yield
    thaw()
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_paused_inside_then_enabled_with_the_records_frozen():
    gc.enable()
    gc.unfreeze()
    with collector_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]  # tracked containers
    assert gc.isenabled()
    assert gc.get_freeze_count() >= 1001
    assert not any(gc.is_finalized(x) for x in made)  # still alive, only out of sight
    thaw()
    assert gc.get_freeze_count() == 0
    thaw()  # nothing frozen: nothing happens
    assert gc.get_freeze_count() == 0


def test_nested_pauses_restore_the_state_once_the_outermost_ends():
    gc.enable()
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
        assert not gc_pause._froze
        thaw()  # inside a pause: nothing is given back yet
    assert gc.isenabled()
    assert gc_pause._froze


def test_a_collector_disabled_before_stays_disabled_and_errors_pass_through():
    gc.disable()
    with pytest.raises(ZeroDivisionError), collector_paused():
        1 / 0  # noqa: B018
    assert not gc.isenabled()
    assert gc_pause._depth == 0


def test_cyclic_garbage_made_in_a_pause_is_freed_after_thaw():
    gc.enable()
    gc.unfreeze()
    gc.collect()

    class Node:
        pass

    with collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
    assert gc.collect() == 0  # frozen: the cycle waits
    thaw()
    assert gc.collect() >= 2


def test_an_inline_session_leaves_nothing_frozen(run):
    gc.enable()
    gc.unfreeze()
    result = run("-m", "fgbmk_human", "--fgbmk-model=oracle", "--fgbmk-no-cache", "-k", "wine")
    assert result.ret in (0, 5)
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_overlapping_pauses_of_two_threads_leave_the_collector_as_it_was():
    """Thread A enters, B enters, A leaves, B leaves: B saw the collector off (A's pause)
    and, remembering that, left it off for the rest of the process."""
    import threading

    gc.enable()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with collector_paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with collector_paused(freeze=False):
            b_in.set()
            a_out.wait(5)
            assert not gc.isenabled()  # A has left; B's pause still holds

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert gc.isenabled()
    assert gc_pause._depth == 0 and gc_pause._froze  # A asked to freeze: done at the end


def test_a_pause_without_freeze_freezes_nothing():
    gc.enable()
    gc.unfreeze()
    with collector_paused(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0
