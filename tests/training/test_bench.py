"""`training.bench` helpers that the station bench and bench/profile_station.py share."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from training.bench import ThreadCpu


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_thread_cpu_counts_a_thread_that_ended_inside_the_block_under_its_name() -> None:
    def burn() -> None:
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            pass
        time.sleep(0.2)  # then waits, as a stage does on its queue: the sampler gets the GIL and its last look

    with ThreadCpu(every_s=0.05) as threads:
        worker = threading.Thread(target=burn, name="station-burn")
        worker.start()
        worker.join()
        time.sleep(0.1)  # the thread is gone; its last sample must still count
    per_part = threads.per_part_ms(3)
    assert 0.25 <= threads.seconds["station-burn"] <= 0.6
    assert per_part["station-burn"] == pytest.approx(1000 * threads.seconds["station-burn"] / 3)
    assert "bench-threadcpu" not in threads.seconds  # the sampler does not count itself
