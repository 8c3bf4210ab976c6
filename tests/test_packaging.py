"""A non-editable install carries every subpackage: `qa --help` and the UI import from a wheel."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import REPO


def test_wheel_installed_in_a_fresh_venv_runs(tmp_path):
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(wheels), str(REPO)], check=True, timeout=300)
    wheel = next(wheels.glob("nachrichten_qa-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    # Dependencies come from the test interpreter's site-packages (a path, so its editable
    # finder for this repo is not loaded): the project itself only from the wheel.
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(own_site, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    help_text = subprocess.run(
        [str(env_dir / "bin" / "qa"), "--help"], cwd=outside, capture_output=True, text=True
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "index" in help_text.stdout and "serve" in help_text.stdout
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import qa, qa.ui.app, qa.eval.run, ui; print(qa.__file__)",
        ],
        cwd=outside,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(env_dir) in probe.stdout, "qa must come from the wheel, not the checkout"
