"""The web page in a real browser: Playwright drives Debian's chromium against the real server on loopback.

Needs the ``chromium`` binary (``apt-get install chromium``; ``$VOCALSEP_CHROMIUM`` names another);
no browser is downloaded. The screenshot of the finished page goes to ``$VOCALSEP_TEST_ARTIFACTS``
(CI sets ``test-artifacts/``), else to pytest's temporary folder; its path is printed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import tiny_checkpoint, write_song
from web_support import serving

from vocalsep.apps.demo import demo_song
from vocalsep.apps.web import WebServer
from vocalsep.audio.io import AudioReader, AudioWriter

CHROMIUM = os.environ.get("VOCALSEP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: apt-get install chromium "
                                                          "(or set VOCALSEP_CHROMIUM) to test the page in a browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--autoplay-policy=no-user-gesture-required"])
        yield launched
        launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[WebServer, str]]:
    with serving(tmp_path / "jobs", model=str(tiny_checkpoint(tmp_path)), max_upload_mb=8) as served:
        yield served, f"http://127.0.0.1:{served.server_address[1]}/"


@pytest.fixture
def page(browser, site):  # noqa: ANN001, ANN201
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(site[1])
    yield opened
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


def _demo_mp3(folder: Path) -> Path:
    """The synthetic demo song (12 s: a sung-like melody over bass, chords and drums) as an mp3, as users upload."""
    song = demo_song()
    writer = AudioWriter(folder / "demo_song.mp3", song.sample_rate, song.mixture.shape[0])
    writer.write(song.mixture)
    return writer.commit(subtype="", kbps=192)


def _upload(page, file, audio_format: str = "wav") -> dict[str, str]:  # noqa: ANN001
    """Choose ``file``, press Separate, follow the newest job until it ends; the states it showed."""
    page.select_option("#format", audio_format)
    page.set_input_files("#file", file)
    count = page.locator(".job").count()
    page.click("#go")
    page.wait_for_function(f"document.querySelectorAll('.job').length > {count}")
    box = page.locator(".job").first
    seen, progress = [], []
    deadline = time.time() + 120
    while time.time() < deadline:
        # in one call: the poller rewrites the box between two (and it is empty until its first answer)
        state, value = box.evaluate("box => [box.querySelector('.state') && box.querySelector('.state').textContent, "
                                    "box.querySelector('progress') && box.querySelector('progress').value]")
        if state is not None and (not seen or seen[-1] != state):
            seen.append(state)
        if value is not None:
            progress.append(value)
        if state in ("done", "failed"):
            return {"states": seen, "progress": progress}
        time.sleep(0.1)
    raise AssertionError(f"the job still shows {seen[-1]!r} after 120 s")


PLAYER = """async ([index, fraction]) => {
  const audio = document.querySelectorAll('.job')[0].querySelectorAll('audio')[index];
  if (audio.readyState < 1) await new Promise((ok, fail) => {
    audio.addEventListener('loadedmetadata', ok, {once: true}); audio.addEventListener('error', fail, {once: true}); });
  const duration = audio.duration, target = duration * fraction;
  const seeked = new Promise(ok => audio.addEventListener('seeked', ok, {once: true}));
  audio.currentTime = target;
  await seeked;
  await new Promise(ok => setTimeout(ok, 300));
  const seekable = [];
  for (let i = 0; i < audio.seekable.length; i++) seekable.push([audio.seekable.start(i), audio.seekable.end(i)]);
  return {duration, target, current: audio.currentTime, seekable, src: audio.currentSrc};
}"""
PLAY = """async () => {
  const audio = document.querySelectorAll('.job')[0].querySelector('audio');
  audio.currentTime = 0;
  await audio.play();
  await new Promise(ok => setTimeout(ok, 700));
  audio.pause();
  return {current: audio.currentTime, error: audio.error && audio.error.code, duration: audio.duration};
}"""


def test_the_page_separates_a_song_in_a_real_browser(page, site, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    served, base = site
    ranges: list[int] = []
    page.on("response", lambda response: ranges.append(response.status) if "/files/" in response.url else None)
    assert page.title() == "vocalsep"
    page.click("#go")  # nothing chosen yet
    assert page.text_content("#message") == "Choose an audio file first."
    assert page.is_hidden("#bitrate-label")

    song = _demo_mp3(tmp_path)
    shown = _upload(page, song)
    assert shown["states"][-1] == "done" and "separating the voice" in shown["states"], shown
    assert shown["progress"] == sorted(shown["progress"]) and all(0 <= p <= 1 for p in shown["progress"])
    box = page.locator(".job").first
    assert box.locator("h3").text_content() == "demo_song.mp3"
    job_id = box.locator("audio").first.get_attribute("src").split("/")[2]

    reader = AudioReader(song)
    seconds = reader.frames / reader.sample_rate
    for index in (0, 1):  # vocals, accompaniment
        player = page.evaluate(PLAYER, [index, 0.5])
        assert abs(player["duration"] - seconds) < 0.01, player
        assert any(start <= player["target"] <= end for start, end in player["seekable"]), player
        assert abs(player["current"] - player["target"]) < 0.05, player  # the seek stuck
    assert 206 in ranges  # the players asked for parts of the files

    for picture in box.locator("img").all():
        picture.scroll_into_view_if_needed()
        page.wait_for_function("image => image.complete", arg=picture.element_handle())
        assert picture.evaluate("image => image.naturalWidth") > 0, picture.get_attribute("alt")
    assert box.locator("img").count() == 2

    links = box.locator("a[download]").all()
    assert [link.text_content() for link in links] == [
        "vocals.wav", "accompaniment.wav", "notes.csv", "notes.mid", "f0.csv"]
    for link in links:
        with page.expect_download() as download:
            link.click()
        name = link.get_attribute("href").split("/")[-1]
        assert Path(download.value.path()).read_bytes() == served.workshop.result_path(job_id, name).read_bytes()
        assert download.value.suggested_filename == name

    folder = Path(os.environ.get("VOCALSEP_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = page.screenshot(path=folder / "web-page.png", full_page=True)
    assert shot.startswith(b"\x89PNG")
    with capsys.disabled():
        print(f"\nscreenshot of the finished page: {folder / 'web-page.png'}")


@pytest.mark.parametrize("audio_format", ["mp3", "ogg", "opus", "m4a"])
def test_compressed_stems_play_in_the_player(page, tmp_path: Path, audio_format: str) -> None:  # noqa: ANN001
    write_song(tmp_path / "short.wav", seconds=2.0, rate=16000)
    page.select_option("#format", audio_format)
    assert page.is_visible("#bitrate-label")
    page.select_option("#bitrate", "96")
    shown = _upload(page, tmp_path / "short.wav", audio_format)
    assert shown["states"][-1] == "done", shown
    box = page.locator(".job").first
    assert box.locator("audio").first.get_attribute("src").endswith(f"/vocals.{audio_format}")
    played = page.evaluate(PLAY)
    assert played["error"] is None and abs(played["duration"] - 2.0) < 0.1, played
    assert played["current"] > 0.3, played  # it played
    player = page.evaluate(PLAYER, [1, 0.5])
    assert abs(player["current"] - player["target"]) < 0.05, player


def test_a_file_that_is_not_audio_shows_one_readable_error(page, tmp_path: Path) -> None:  # noqa: ANN001
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"shopping list: eggs, milk\n" * 40}
    shown = _upload(page, notes)
    assert shown["states"][-1] == "failed"
    errors = [text for text in page.locator(".error").all_text_contents() if text.strip()]
    assert len(errors) == 1, errors
    assert errors[0] == "notes.txt: the file holds no audio stream"  # the decoder's one line, of the name as chosen
    assert "Traceback" not in page.content() and str(tmp_path) not in errors[0]
    assert page.locator(".job").first.locator("audio, img, a").count() == 0
