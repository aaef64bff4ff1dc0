"""Fault test of DataParallel (issue 11, items 6-7): a small data-parallel training runs in a
subprocess (its own session), and a worker or the parent is killed with SIGKILL, or the parent is
interrupted (SIGINT, Ctrl-C), at a random moment (seeded): the parent during its imports, while it
starts the workers or while it trains; a worker inside a step or between two. Whatever dies, the
run must end within
the timeout, leave no process of its session behind (workers, resource tracker) and leave nothing
new in /dev/shm. A killed worker must be named, with its exit code, in the parent's error."""
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and /dev/shm")

TRAINING = """
import functools
import numpy as np
import tinygrad_lm as tg
from tinygrad_lm import nn
from tinygrad_lm.distributed import DataParallel
from tinygrad_lm.models.mlp import MLP

if __name__ == "__main__":
    with DataParallel(MLP(6, (8,), 3).double(), nn.functional.cross_entropy,
                      functools.partial(tg.optim.SGD, lr=0.1), world_size=2, timeout=30) as dp:
        print("pids", *(w.pid for w in dp.workers), flush=True)
        rng = np.random.default_rng(0)
        while True:
            dp.step(rng.standard_normal((16, 6)), rng.integers(0, 3, 16))
"""
END_S = 30.0  # the run must be over (parent exited, session empty) this long after the kill
TRIALS = 6


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes whose session id is ``sid``, by a scan of /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry))
    return members


def shm_in_use() -> set[str]:
    """/dev/shm paths some live process has open or mapped."""
    used = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                used |= {line.split(None, 5)[5].strip() for line in Path(f"/proc/{entry}/maps").read_text().splitlines()
                         if "/dev/shm/" in line}
                used |= {os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")}
            except (OSError, IndexError):
                continue
    return used


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def read_pids(proc, seconds: float) -> list[int]:
    """The 'pids' line the training prints once its workers are started."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    assert ready, "the training never started its workers"
    words = proc.stdout.readline().split()
    assert words[:1] == ["pids"], words
    return [int(w) for w in words[1:]]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_killing_a_worker_or_the_parent_ends_the_run_cleanly(tmp_path, trial):
    rng = random.Random(trial)
    victim = ("parent", "worker", "interrupt")[trial % 3]
    rank = rng.randrange(2)
    delay = rng.uniform(0.0, 1.0) if victim == "worker" else rng.uniform(0.0, 5.0)  # start-up takes ~2-4 s
    script = tmp_path / "train.py"
    script.write_text(TRAINING)
    shm_before = set(os.listdir("/dev/shm"))
    with open(tmp_path / "stderr", "w") as stderr:  # a file: an orphan holding it cannot block the test
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True, cwd=tmp_path)
    try:
        if victim != "worker":  # counted from the launch, to hit the start-up too
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL if victim == "parent" else signal.SIGINT)
        else:
            workers = read_pids(proc, 60)
            time.sleep(delay)
            os.kill(workers[rank], signal.SIGKILL)
        proc.wait(timeout=END_S)
        err = (tmp_path / "stderr").read_text()
        if victim == "worker":
            assert proc.returncode == 1, err
            assert (f"DataParallel: worker {rank} (pid {workers[rank]}) died (exit code -9, killed by SIGKILL)"
                    in err), err
        assert wait_until(lambda: not session_members(proc.pid), END_S), \
            f"{victim} killed after {delay:.2f} s: processes left {session_members(proc.pid)}"
    finally:
        for pid in session_members(proc.pid):  # never leave a stray process to the next test
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    leaked = (set(os.listdir("/dev/shm")) - shm_before) - {Path(p).name for p in shm_in_use()}
    assert not leaked, f"{victim} killed after {delay:.2f} s left {sorted(leaked)} in /dev/shm"
