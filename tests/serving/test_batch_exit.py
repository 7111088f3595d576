"""``keel predict`` ends its process without the modules' teardown, but with everything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from keel.cli._gc import end_process

PROGRAM = """
import atexit, sys, threading, time
from pathlib import Path
from keel.cli._gc import end_process

folder = Path(sys.argv[1])
atexit.register(lambda: (folder / "atexit").write_text("ran"))

def slow():
    time.sleep(0.3)
    (folder / "thread").write_text("done")

threading.Thread(target=slow).start()  # not a daemon: joined before the end
sys.stdout.write("summary, still buffered")
end_process(3)
print("never")
"""


def test_the_process_ends_after_its_threads_atexit_handlers_and_output(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(Path(end_process.__code__.co_filename).parents[2])},
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "summary, still buffered"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
