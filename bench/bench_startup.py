"""Benchmark (issue 18): how long ``webinar-worker check`` takes, against starting Python at all.

Both are child processes, timed from start to exit, median of several runs each, interleaved so
a noisy machine slows both alike. ``check`` runs on the shipped ``settings.yaml`` and templates
(certificates on, so it checks the certificate templates too) with ``--offline-ok``. A second row
counts the heavy libraries ``check`` imports (goal: none of fpdf, numpy, matplotlib, googleapiclient).

Run: python bench/bench_startup.py
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_rows  # noqa: E402

RUNS = 7  # per command; the median is reported
HEAVY = ("fpdf", "numpy", "matplotlib", "googleapiclient", "fontTools", "PIL")
WRAPPER = """
import json, sys
from worker.cli import main
code = main(sys.argv[1:])
print("LOADED=" + json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(%r)))))
""" % json.dumps(HEAVY)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))}
    env.update(PYTHONPATH=str(ROOT), LANG="en_US.UTF-8")
    return env


def _seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def measure() -> list[dict]:
    """Rows: ``check`` wall time vs ``python -c pass`` (goal: at most 8x), and heavy modules ``check`` loads."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "settings.yaml").write_text((ROOT / "settings.yaml").read_text(encoding="utf-8"), encoding="utf-8")
        if not (work / "templates").exists():
            (work / "templates").symlink_to(ROOT / "templates")
        check = [sys.executable, "-m", "worker", "check", "--settings", str(work / "settings.yaml"), "--offline-ok"]
        bare = [sys.executable, "-c", "pass"]
        _seconds(check, work)  # warm the file cache and the bytecode
        checks, bares = [], []
        for _ in range(RUNS):
            checks.append(_seconds(check, work))
            bares.append(_seconds(bare, work))
        done = subprocess.run([sys.executable, "-c", WRAPPER, *check[3:]], cwd=work, env=_env(),
                              capture_output=True, text=True, check=False)
    product, baseline = statistics.median(checks), statistics.median(bares)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("LOADED=")), "LOADED=null")
    loaded = json.loads(line.removeprefix("LOADED="))
    ratio = product / baseline
    return [{"figure": "`webinar-worker check` start-up", "product": round(product, 3), "baseline": round(baseline, 3),
             "baseline_label": "`python -c pass`", "unit": "s", "ratio": round(ratio, 1), "goal": "<= 8",
             "met": ratio <= 8},
            {"figure": "heavy libraries `check` imports", "product": float(len(loaded) if loaded is not None else -1),
             "baseline": 0.0, "baseline_label": ", ".join(HEAVY), "unit": "modules",
             "ratio": float(len(loaded) if loaded is not None else -1), "goal": "0",
             "met": loaded == [], "note": f"loaded: {loaded}"}]


def main() -> None:
    """Print the rows."""
    print_rows(measure())


if __name__ == "__main__":
    main()
