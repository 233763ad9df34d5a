"""A plain (non-editable) install in a fresh venv runs `init`, `check` and `demo` from any folder."""
from __future__ import annotations

import os
import site
import stat
import subprocess
import sys
import venv

from tests.helpers_process import ROOT, clean_env


def _run(args, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def test_a_wheel_in_a_fresh_venv_runs_init_check_and_demo(tmp_path):
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                  str(ROOT)], tmp_path, clean_env())
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("webinar_worker-*.whl")
    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    target = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                  clean_env()).stdout.strip()
    installed = _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, str(wheel)],
                     tmp_path, clean_env())
    assert installed.returncode == 0, installed.stderr
    env = clean_env()
    # the dependencies come from this test run's environment; the worker itself only from the wheel
    env["PYTHONPATH"] = os.pathsep.join(p for p in site.getsitepackages() if os.path.isdir(p))
    home = tmp_path / "elsewhere"
    home.mkdir()
    where = _run([str(python), "-c", "import worker; print(worker.__file__)"], home, env)
    assert where.stdout.strip().startswith(str(fresh)), where.stdout + where.stderr

    init = _run([str(python), "-m", "worker", "init", "perpustakaan"], home, env)
    assert init.returncode == 0, init.stderr
    folder = home / "perpustakaan"
    assert (folder / "templates" / "invitation.html.j2").is_file()
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    assert "Type=notify" in (folder / "webinar-worker.service").read_text(encoding="utf-8")

    check = _run([str(python), "-m", "worker", "check", "--settings", "perpustakaan/settings.yaml"], home, env)
    assert check.returncode == 1 and "NOT READY" in check.stdout, check.stdout + check.stderr
    offline = _run([str(python), "-m", "worker", "check", "--offline-ok", "--settings", "perpustakaan/settings.yaml"],
                   home, env)
    assert offline.returncode == 0, offline.stdout + offline.stderr

    demo = _run([str(python), "-m", "worker", "demo", "--quiet", "--out", "demo-output"], home, env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (home / "demo-output" / "sandbox" / "settings.yaml").is_file()
