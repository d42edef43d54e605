"""The wheel: ``python -m build --wheel`` gives a wheel that holds the package, its weights, the
tracker's weights, the web page's files and the demo song, and nothing else; installed into a fresh
virtual environment with no source tree around, ``vocalsep demo`` separates and transcribes the
shipped song with the network switched off.

The fresh environment gets only the wheel (``pip install --no-deps --no-index``); its dependencies
(torch and the rest, pinned by the wheel's metadata) are seen through a ``.pth`` file naming the
folders this interpreter imports them from, because installing torch anew would take minutes and a
download. This checkout's ``src/`` is left out of that list, a ``.pth`` line only adds a folder to
``sys.path`` (the ``.pth`` files inside it, such as an editable install's, are not read), and the
test checks that ``vocalsep`` comes from the wheel.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile

REPO = Path(__file__).resolve().parents[1]

#: What the product needs at run time besides code: each pattern must match a file in the wheel.
RUN_TIME_DATA = (
    "vocalsep/separation/models/default-*.pt",  # the separator's weights
    "vocalsep/melody/pitch_models/crepe-tiny.pth",  # the tracker's weights
    "vocalsep/melody/pitch_models/LICENSE-crepe.txt",
    "vocalsep/apps/web/page.html",  # the web page's files
    "vocalsep/apps/web/favicon.svg",
    "vocalsep/examples/audio_example.mp3",  # the demo's real song and its credit
    "vocalsep/examples/audio_example.txt",
)

#: What the demo writes for the shipped song, under ``<output>/audio_example/``.
DEMO_FILES = ("vocals.wav", "accompaniment.wav", "f0.csv", "notes.csv", "notes.mid",
              "spectrograms.png", "melody.png")

#: Imported first by the installed wheel's Python: any connection or name look-up raises.
NO_NETWORK = '''\
import socket


def _refuse(*args, **kwargs):
    raise OSError("no network: the installed wheel must not download anything")


socket.socket.connect = socket.socket.connect_ex = _refuse
socket.create_connection = socket.getaddrinfo = _refuse
'''


def _run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess:  # noqa: ANN003
    """Run a command; on failure, the assertion shows the end of its output."""
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _source_copy(folder: Path) -> Path:
    """The project's build inputs copied without caches, so the build writes nothing into the checkout
    and a stale ``build/`` there cannot leak into the wheel."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", folder / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` of this checkout; without isolation, which would download setuptools."""
    source = _source_copy(tmp_path_factory.mktemp("source"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source])
    (built,) = dist.glob("vocalsep-*.whl")
    return built


def test_the_wheel_holds_the_package_and_its_data_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = [pattern for pattern in RUN_TIME_DATA if not fnmatch.filter(names, pattern)]
    assert missing == [], f"the wheel lacks {missing}: add them to [tool.setuptools.package-data]"
    package = REPO / "src" / "vocalsep"
    in_source = {f"vocalsep/{path.relative_to(package).as_posix()}" for path in package.rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    assert sorted(in_source - set(names)) == [], "files of the package that the wheel leaves out"
    dist_info = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info/"
    junk = [name for name in names if not (name.startswith(dist_info) or name in in_source)]
    assert junk == [], "the wheel holds files that are not the package's (tests, runs, data, caches)"


def _fresh_environment(folder: Path, wheel: Path) -> Path:
    """A new virtual environment holding only the wheel, seeing this one's dependencies; its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", folder])
    python = folder / "bin" / "python"
    # this environment's pip installs into the new one; nothing comes from an index
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    own_site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    # added after the install, so pip never sees this checkout's editable vocalsep as installed there
    (own_site / "dependencies.pth").write_text("\n".join(_dependency_paths()) + "\n")
    return python


def _dependency_paths() -> list[str]:
    """Where this interpreter finds its packages: its ``sys.path`` less this checkout's code
    (``src/``, ``tests/``); a virtual environment inside the checkout (CI's ``.venv``) stays."""
    code = (REPO, REPO / "src", REPO / "tests")
    return [path for path in sys.path
            if path and Path(path).is_dir() and not any(Path(path).resolve() == folder for folder in code)]


def _offline_env(folder: Path) -> dict[str, str]:
    """The environment of the installed wheel: no source tree on the path, an empty home and caches,
    and a ``sitecustomize`` that refuses network connections."""
    guard = folder / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    home = folder / "home"
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}
    env |= {"PYTHONPATH": str(guard), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
            "VOCALSEP_CACHE_DIR": str(home / "vocalsep-cache"), "MPLCONFIGDIR": str(home / "matplotlib"),
            "TORCH_HOME": str(home / "torch"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return env


def test_the_installed_wheel_runs_the_demo_offline(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = _fresh_environment(venv, wheel)
    env = _offline_env(tmp_path)
    outside = tmp_path / "elsewhere"  # the working folder: no checkout, no src/ anywhere near
    outside.mkdir()
    probe = ("import socket, vocalsep\nprint(vocalsep.__file__)\n"
             "try:\n    socket.create_connection(('127.0.0.1', 9))\nexcept OSError as error:\n    print(error)")
    where, refusal = _run([python, "-c", probe], cwd=outside, env=env).stdout.strip().splitlines()
    assert Path(where).is_relative_to(venv.resolve()), f"vocalsep came from {where}, not from the wheel"
    assert refusal.startswith("no network"), "the network guard is not in force"

    result = _run([venv / "bin" / "vocalsep", "demo", "-o", "out", "-q"], cwd=outside, env=env)
    folder = outside / "out" / "audio_example"
    for name in DEMO_FILES:
        assert (folder / name).stat().st_size > 0, name
    assert soundfile.info(folder / "vocals.wav").duration > 10.0  # the whole 11-second song
    song = next(line for line in result.stdout.splitlines() if line.startswith("song: "))
    assert Path(song.removeprefix("song: ")).is_relative_to(venv.resolve())  # inside the installed package
    credit = next(line for line in result.stdout.splitlines() if line.startswith("credit: "))
    assert all(part in credit for part in ("Slow Motion Dream", "Steven M Bryant", "CC BY 3.0"))
    assert "melody: " in result.stdout and (folder / "notes.csv").read_text().count("\n") > 1
