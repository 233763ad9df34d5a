"""The container and service files: what they promise is checked here; the image is built where Docker is."""
from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.helpers_process import ROOT


def test_the_dockerfile_runs_as_non_root_keeps_data_on_a_volume_and_checks_health_with_status():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("FROM python:") and lines[0].endswith("-slim")
    assert "USER webinar" in lines and 'VOLUME ["/data"]' in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines) and '"status", "--json"' in text
    assert lines.index("USER webinar") > max(i for i, line in enumerate(lines) if line.startswith("RUN"))
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "state.db*" in ignored  # secrets and state never go into an image


def test_the_kubernetes_example_has_one_replica_a_volume_a_secret_and_a_liveness_probe_on_status():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "webinar-worker.yaml").read_text("utf-8")))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "PersistentVolumeClaim", "Secret", "Secret"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["livenessProbe"]["exec"]["command"][:2] == ["webinar-worker", "status"]
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_systemd_units_use_notify_and_the_watchdog():
    for unit in (ROOT / "deploy" / "webinar-worker@.service",):
        text = unit.read_text(encoding="utf-8")
        assert "Type=notify" in text and "WatchdogSec=" in text and "User=webinar" in text
        assert "ReadWritePaths=/srv/webinar/%i" in text and "useradd --system" in text


def test_the_image_builds_where_docker_is_available():
    """Builds the image when a Docker daemon answers; otherwise the static checks above stand alone."""
    docker = shutil.which("docker")
    daemon = docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    if not daemon:
        assert (ROOT / "Dockerfile").is_file()  # nothing more can be tried on this machine
        return
    built = subprocess.run([docker, "build", "-q", "-t", "webinar-worker:test", str(ROOT)], capture_output=True,
                           text=True)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([docker, "run", "--rm", "webinar-worker:test", "--help"], capture_output=True, text=True)
    assert ran.returncode == 0 and "doctor" in ran.stdout, ran.stderr
