"""What the server loads at start: an idle ``keel server`` must not carry the data stack.

NumPy, pandas, pyarrow, SciPy and scikit-learn cost about 180 MB of resident memory, and
the server's budget is 300 MB under load; they load when a request needs them (drift,
validation, profiles), not because a route module imported a package's ``__init__``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = {"numpy", "pandas", "pyarrow", "scipy", "sklearn"}

_PROBE = """
import sys
from keel.server.app import create_app
app = create_app(auth=True)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_building_the_server_app_imports_no_data_library(tmp_path: Path) -> None:
    from keel.store import init_project

    project = init_project(tmp_path / "proj")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(KEEL_URI=project.config.uri, KEEL_OBJECTS=project.config.objects, KEEL_FSYNC="0")
    project.close()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=tmp_path / "proj",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "fastapi" in loaded  # the probe did build the app
    assert not loaded & HEAVY, f"the server imports {sorted(loaded & HEAVY)} at start"


def test_lazy_packages_still_hand_out_their_names() -> None:
    import keel.monitoring as monitoring
    import keel.validation as validation

    assert callable(monitoring.drift)
    assert monitoring.MonitorService.__name__ == "MonitorService"
    assert validation.checks.__name__ == "keel.validation.checks"
    assert "dtype" in validation.CHECKS
    assert validation.Schema.__name__ == "Schema"
    assert set(monitoring.__all__) <= set(dir(monitoring))
