"""Sharing a busy CPU: torch threads sized to the cores other processes leave free."""

import torch

from spoofguard import cpu


def test_free_cores_leave_room_for_the_others_and_at_least_one():
    assert cpu.free_cores(load=0.2, usable=2) == 2
    assert cpu.free_cores(load=1.4, usable=2) == 1
    assert cpu.free_cores(load=7.0, usable=4) == 1
    assert cpu.free_cores(load=1.6, usable=8) == 6


def test_the_users_thread_setting_wins(monkeypatch):
    monkeypatch.setenv(cpu.THREADS_ENV, "3")
    assert cpu.chosen_threads(load=5.0, usable=2) == (3, "SPOOFGUARD_THREADS=3")
    monkeypatch.delenv(cpu.THREADS_ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu.chosen_threads(load=5.0, usable=8)[0] == 2


def test_share_cpu_lowers_threads_on_a_busy_machine_and_never_raises_them(monkeypatch):
    monkeypatch.delenv(cpu.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    said = []
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(cpu, "busy_cores", lambda: 0.0)
        assert cpu.share_cpu(said.append) == 1 and torch.get_num_threads() == 1  # the caller's 1 thread kept
        torch.set_num_threads(2)
        monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
        monkeypatch.setattr(cpu, "busy_cores", lambda: 1.8)
        assert cpu.share_cpu(said.append) == 1 and "the CPU is busy (load 1.8 on 2 cores)" in said[-1]
        monkeypatch.setattr(cpu, "busy_cores", lambda: 0.0)  # quiet again: the next run gets the caller's 2 back
        assert cpu.share_cpu(said.append) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_own_work_is_not_counted_as_busy():
    """A busy loop in this process must not read as another process's load."""
    import threading
    import time

    stop = time.time() + 0.6
    t = threading.Thread(target=lambda: [None for _ in iter(lambda: time.time() < stop, False)])
    t.start()
    quiet_others = cpu.busy_cores(window=0.4)
    t.join()
    assert quiet_others < cpu.usable_cores()  # our own spinning core is subtracted


def test_passive_waiting_only_on_a_busy_machine(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(cpu, "busy_cores", lambda window=0.3: 1.5)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    cpu.prefer_passive_waiting()
    import os

    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(cpu, "busy_cores", lambda window=0.3: 0.2)
    cpu.prefer_passive_waiting()
    assert "OMP_WAIT_POLICY" not in os.environ
