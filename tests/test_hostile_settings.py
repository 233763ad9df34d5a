"""Broken and hostile settings files: every one ends in exit 2 with its line, never a traceback.

The corpus lives in ``tests/hostile/settings/`` (MANIFEST.tsv pairs each file with the
message `check` must print). Most cases run ``worker.cli.main(["check", ...])`` in-process:
``python -m worker`` and the console script call exactly that function, and an exception
escaping it fails the test just as a traceback would. The cases that could exhaust memory
(aliases, depth, size, /dev/zero) run the real CLI in a subprocess under RLIMIT_AS = 1 GiB,
so a blow-up fails the test instead of the machine. Hypothesis adds mutations of the
shipped settings.yaml.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from worker.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "hostile" / "settings"
TEMPLATES = ROOT / "templates"
MEMORY_LIMIT = 1 << 30  # bytes of address space for the subprocess cases


def manifest() -> list[tuple[str, str]]:
    """(file name, expected stderr regex or PASS) for every corpus file."""
    rows = []
    for line in (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, regex = line.split("\t", 1)
            rows.append((name, regex))
    return rows


CASES = manifest()
# Files that could exhaust memory or the stack if a bound broke: only ever run in the limited subprocess.
MEMORY_CASES = ("alias-billion-laughs.yaml", "alias-simple.yaml", "depth-30.yaml", "depth-10000-flow.yaml",
                "depth-block.yaml", "duration-huge-int.yaml")
IN_PROCESS = [(n, r) for n, r in CASES if n not in MEMORY_CASES]


@pytest.fixture
def no_secrets(monkeypatch):
    """No Zoom, SMTP or Google credentials from the developer's environment."""
    for key in list(os.environ):
        if key.startswith(("ZOOM_", "SMTP_", "GOOGLE_")):
            monkeypatch.delenv(key)


def place(tmp_path: Path, name: str, data: bytes) -> Path:
    """Put a settings file beside a copy of the templates, as staff would have it."""
    if not (tmp_path / "templates").exists():
        shutil.copytree(TEMPLATES, tmp_path / "templates")
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_corpus_is_big_enough_and_every_file_is_listed():
    files = {p.name for p in CORPUS.glob("*.yaml")}
    assert files == {name for name, _ in CASES}
    failing = [n for n, r in CASES if r != "PASS"]
    assert len(failing) >= 40 and len(CASES) - len(failing) >= 3


@pytest.mark.parametrize("name,regex", IN_PROCESS, ids=[n for n, _ in IN_PROCESS])
def test_corpus_file_through_check(name, regex, tmp_path, capsys, no_secrets):
    path = place(tmp_path, name, (CORPUS / name).read_bytes())
    code = main(["check", "--offline-ok", "--settings", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if regex == "PASS":
        assert code == 0, err
        assert "valid —" in out and "accepted by --offline-ok" in out
        return
    assert code == 2, out
    assert re.search(regex, err), f"expected /{regex}/ in:\n{err}"
    assert re.search(r"\.yaml:\d+", err), "the message names no line"


ENGLISH = re.compile(r"\b(expected|got|is not|unknown key|must|required|appears|nested|not valid|found|"
                     r"larger than|contains|cannot)\b")  # words of the English messages, never in the Indonesian ones
FAILING = [(n, r) for n, r in IN_PROCESS if r != "PASS"]


@pytest.mark.parametrize("name,regex", FAILING, ids=[n for n, _ in FAILING])
def test_corpus_file_in_plain_indonesian_by_default(name, regex, tmp_path, capsys, monkeypatch, no_secrets):
    """What staff see: every problem in Indonesian, on its line ("baris"), with no English left in it."""
    monkeypatch.delenv("LANG")
    path = place(tmp_path, name, (CORPUS / name).read_bytes())
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 2
    problems = capsys.readouterr().err.split("\n\n")[0]
    heads = [line for line in problems.splitlines() if re.search(rf"{re.escape(name)} baris \d+", line)]
    assert heads and not any(ENGLISH.search(line.split(": ", 1)[1]) for line in heads), problems


def run_limited(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m worker ARGS`` under a 1 GiB address-space limit."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "SMTP_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "worker", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, preexec_fn=limit)


@pytest.mark.parametrize("name", MEMORY_CASES)
def test_memory_cases_in_a_limited_subprocess(name, tmp_path):
    regex = dict(CASES)[name]
    path = place(tmp_path, name, (CORPUS / name).read_bytes())
    result = run_limited(["check", "--settings", str(path)], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(regex, result.stderr), result.stderr
    assert re.search(r"\.yaml:\d+", result.stderr), "the message names no line"


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = place(tmp_path, "huge.yaml", b"# " + b"x" * (2 * 1024 * 1024) + b"\nseries: {}\n")
    result = run_limited(["check", "--settings", str(path)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "huge.yaml: is larger than 1024 KiB" in result.stderr


def test_dev_zero_as_the_settings_file(tmp_path):
    result = run_limited(["check", "--settings", "/dev/zero"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "/dev/zero: is larger than 1024 KiB" in result.stderr


def test_a_folder_as_the_settings_file(tmp_path, capsys):
    assert main(["check", "--settings", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a folder" in err


def corpus_base() -> str:
    return (CORPUS / "pass-crlf.yaml").read_text(encoding="utf-8").replace("\r\n", "\n")


@pytest.mark.parametrize("lines,expected", [
    ("    csv_files: [/dev/zero]\n", "/dev/zero: is larger than 20 MiB"),
    ("    unsubscribe_files: [{tmp}]\n", "{tmp}: is a folder, expected a CSV or text file"),
    ("    csv_files: [daftar.bin]\n", "daftar.bin: is a binary file"),
])
def test_recipient_files_that_cannot_be_read_exit_2_naming_them(lines, expected, tmp_path, capsys, no_secrets):
    (tmp_path / "daftar.bin").write_bytes(b"email\n" + b"\x00\x01" * 100)
    text = corpus_base().replace("    inline:\n", lines.format(tmp=tmp_path) + "    inline:\n")
    path = place(tmp_path, "settings.yaml", text.encode())
    assert main(["check", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected.format(tmp=tmp_path) in err and "Traceback" not in err


@pytest.mark.parametrize("data,expected", [
    (b"ZOOM_CLIENT_ID=abc\nZOOM_CLIENT_SECRET=r\xe9sum\xe9\n", r"\.env:2: is not UTF-8 text"),
    (b"ZOOM_CLIENT_ID=abc\n\x00\x00", r"\.env:2: contains NUL bytes"),
    (b"ZOOM_CLIENT_ID=abc\nthis is not a setting\n", r"\.env:2: expected NAME=value"),
])
def test_a_bad_env_file_is_exit_2_with_file_and_line(data, expected, tmp_path, capsys, no_secrets):
    path = place(tmp_path, "settings.yaml", corpus_base().encode())
    (tmp_path / ".env").write_bytes(data)
    assert main(["plan", "--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(expected, err), err
    assert "r\xe9sum" not in err and "Traceback" not in err


def test_env_and_key_file_readable_by_others_earn_a_warning_not_an_error(tmp_path, capsys, no_secrets):
    key = tmp_path / "kunci.json"
    key.write_text("{}")
    key.chmod(0o644)
    text = corpus_base() + f"google:\n  credentials_file: {key}\n"
    path = place(tmp_path, "settings.yaml", text.encode())
    env = tmp_path / ".env"
    env.write_text("SMTP_PASSWORD=rahasia-sekali\n")
    env.chmod(0o644)
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"warning: .env {env} can be read by other users (mode 0644)" in out
    assert f"warning: the Google key file {key} can be read by other users" in out
    assert "rahasia-sekali" not in out
    env.chmod(0o600)
    key.chmod(0o600)
    assert main(["check", "--offline-ok", "--settings", str(path)]) == 0
    assert "can be read by other users" not in capsys.readouterr().out


# -- Hypothesis: mutations of the shipped settings.yaml --------------------------------
SHIPPED = (ROOT / "settings.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
NASTY = st.sampled_from(["", "\t", ":", "- ", "&a ", "*a", "[", "]", "{", "}", '"', "'", "!!python/object ",
                         "9999-12-31", "0001-01-01", "1e999", ".nan", "-1", "\u202e", "\x00", "\r", "%",
                         "? ", "|", ">", "#", "\ufeff", "2027-02-30", "99:99", "Indonesia", "~", "ä"])
MUTATION = st.tuples(st.sampled_from(["delete", "duplicate", "insert", "replace_value", "indent", "dedent"]),
                     st.integers(0, len(SHIPPED) - 1), NASTY | st.text(max_size=12), st.integers(0, 200))


def mutate(lines: list[str], mutation: tuple[str, int, str, int]) -> list[str]:
    """One edit a careless or hostile person could make."""
    op, index, text, pos = mutation
    lines = list(lines)
    index %= len(lines)
    line = lines[index]
    if op == "delete":
        del lines[index]
    elif op == "duplicate":
        lines.insert(index, line)
    elif op == "insert":
        cut = min(pos, len(line))
        lines[index] = line[:cut] + text + line[cut:]
    elif op == "replace_value" and ":" in line:
        lines[index] = line.split(":", 1)[0] + ": " + text + "\n"
    elif op == "indent":
        lines[index] = "  " + line
    elif op == "dedent":
        lines[index] = line[2:] if line.startswith("  ") else line
    return lines


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(MUTATION, min_size=1, max_size=3))
def test_mutations_of_the_shipped_settings_end_in_0_or_2(tmp_path, capsys, no_secrets, mutations):
    """``plan`` loads and checks the settings exactly as ``check`` does, then runs the planner on them
    (more to go wrong), without ``check``'s template renders (0.6 s each; the corpus covers those)."""
    lines = SHIPPED
    for mutation in mutations:
        lines = mutate(lines, mutation)
    path = place(tmp_path, "settings.yaml", "".join(lines).encode("utf-8", errors="surrogatepass"))
    code = main(["plan", "--settings", str(path), "--now", "2027-01-05T08:00+08:00"])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    assert "Traceback" not in out + err
    if code == 2:
        assert re.search(r"settings\.yaml(:\d+)?[ :]", err), err
