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

import numpy as np
import pytest
import soundfile
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
    assert box.locator("img").count() == 1  # the spectrograms; the melody is the interactive view
    assert box.locator('[data-testid="melody-view"]').get_attribute("data-state") in ("loading", "ready")

    links = box.locator("a[download]").all()
    assert [link.text_content() for link in links] == [
        "vocals.wav", "accompaniment.wav", "notes.csv", "notes.mid", "f0.csv", "melody.png"]
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


def _tune(path: Path, pitches: tuple[int, ...] = (60, 64, 67, 72, 67, 64, 62, 60), rate: int = 16000) -> Path:
    """Half-second harmonic tones at ``pitches`` (MIDI), stereo float wav: a melody the tiny model leaves notes of."""
    t = np.arange(rate // 2) / rate
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    hz = 440 * 2 ** ((np.array(pitches) - 69) / 12)
    tones = [fade * sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6)) for f in hz]
    tune = np.concatenate(tones)
    soundfile.write(path, np.stack([tune, tune]).T * 0.6 / np.abs(tune).max(), rate, subtype="FLOAT")
    return path


CURSOR_WHILE_PLAYING = """async () => {
  const audio = document.querySelectorAll('.job')[0].querySelector('audio');
  const view = document.querySelector('[data-testid="melody-view"]');
  audio.currentTime = 0;
  await new Promise(ok => audio.addEventListener('seeked', ok, {once: true}));
  await audio.play();
  const seen = [];
  for (let i = 0; i < 5; i++) { await new Promise(ok => setTimeout(ok, 250)); seen.push(+view.dataset.cursorSeconds); }
  audio.pause();
  return {seen, current: audio.currentTime};
}"""


def test_the_melody_view_shows_the_notes_follows_the_player_and_seeks_it(  # noqa: ANN001
        page, site, tmp_path: Path, capsys) -> None:
    served, _ = site
    shown = _upload(page, _tune(tmp_path / "tune.wav"))
    assert shown["states"][-1] == "done", shown
    box = page.locator(".job").first
    job_id = box.locator("audio").first.get_attribute("src").split("/")[2]
    view = box.locator('[data-testid="melody-view"]')
    page.wait_for_function("view => view.dataset.state !== 'loading'", arg=view.element_handle())
    assert view.get_attribute("data-state") == "ready"
    assert box.locator('img[alt="melody"]').count() == 0  # replaced by the view, and downloadable:
    assert box.locator('a[download][href$="/melody.png"]').count() == 1

    lines = served.workshop.result_path(job_id, "notes.csv").read_text().strip().splitlines()[1:]
    rows = [(float(onset), float(offset), int(midi)) for onset, offset, midi, *_ in (line.split(",") for line in lines)]
    assert len(rows) >= 4  # the tune's notes, as the tiny model leaves them
    assert int(view.get_attribute("data-note-count")) == len(rows)
    assert int(view.get_attribute("data-visible-notes")) == len(rows)  # a 4 s song is drawn whole
    assert view.evaluate("view => view.visibleNotes()") == [list(row) for row in rows]

    played = page.evaluate(CURSOR_WHILE_PLAYING)
    seen = played["seen"]
    assert seen[-1] > seen[0] and seen[-1] >= 0.5 and all(b >= a for a, b in zip(seen, seen[1:])), played
    assert abs(seen[-1] - played["current"]) < 0.5, played

    start, end = float(view.get_attribute("data-view-start")), float(view.get_attribute("data-view-end"))
    area = view.bounding_box()
    view.click(position={"x": 0.6 * area["width"], "y": area["height"] / 2})
    target = start + 0.6 * (end - start)
    resolution = (end - start) / area["width"]  # seconds per CSS pixel
    players = page.evaluate("() => [...document.querySelectorAll('.job')[0].querySelectorAll('audio')]"
                            ".map(audio => audio.currentTime)")
    assert len(players) == 2 and all(abs(t - target) <= 2 * resolution + 0.01 for t in players), (players, target)
    assert abs(float(view.get_attribute("data-cursor-seconds")) - target) <= 2 * resolution + 0.01

    folder = Path(os.environ.get("VOCALSEP_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    box.locator(".melody").screenshot(path=folder / "melody-view.png")
    with capsys.disabled():
        print(f"\nscreenshot of the melody view: {folder / 'melody-view.png'}")


DRAW_TIME = """async ([view, button]) => {
  const frame = () => new Promise(ok => requestAnimationFrame(() => ok()));
  await frame();
  const begun = performance.now();
  if (button) view.parentElement.querySelector(`[data-zoom="${button}"]`).click();
  await frame(); await frame();
  return {ms: performance.now() - begun, visible: +view.dataset.visibleNotes,
          start: +view.dataset.viewStart, end: +view.dataset.viewEnd};
}"""


def test_the_melody_view_of_a_60_minute_song_draws_only_its_window(page, capsys) -> None:  # noqa: ANN001
    """An hour of melody (180 000 F0 frames, 7 200 notes), served by a stand-in for the server: the view
    loads it, draws 30 s at first and the whole hour in bounded time."""
    hop, seconds = 0.02, 3600
    times = np.arange(int(seconds / hop)) * hop
    hz = 220 * 2 ** (np.round(4 * np.sin(times / 7)) / 12)
    f0 = "time,frequency,confidence,voiced\n" + "".join(
        f"{t:.4f},{f:.3f},0.9000,{int(t % 0.5 < 0.45)}\n" for t, f in zip(times, hz, strict=True))
    notes = "onset,offset,midi,name,frequency,velocity\n" + "".join(
        f"{t:.4f},{t + 0.45:.4f},57,A3,220.00,100\n" for t in np.arange(0, seconds, 0.5))
    files = {key: f"/files/hour/{name}" for key, name in
             [("vocals", "vocals.wav"), ("notes", "notes.csv"), ("f0", "f0.csv"), ("melody", "melody.png")]}
    job = {"id": "hour", "name": "hour.wav", "state": "done", "progress": 1, "error": None, "summary": None,
           "files": files}
    bodies = {"notes.csv": notes, "f0.csv": f0}
    page.route("**/jobs?*", lambda route: route.fulfill(status=202, json={**job, "state": "queued", "files": {}}))
    page.route("**/jobs/hour", lambda route: route.fulfill(json=job))
    page.route("**/files/hour/*", lambda route: route.fulfill(
        body=bodies.get(route.request.url.split("/")[-1], ""), status=200 if route.request.url.split("/")[-1]
        in bodies else 404, content_type="text/csv"))
    page.set_input_files("#file", {"name": "hour.wav", "mimeType": "audio/wav", "buffer": b"RIFF"})
    page.click("#go")
    view = page.locator('[data-testid="melody-view"]')
    view.wait_for()
    page.wait_for_function("view => view.dataset.state !== 'loading'", arg=view.element_handle(), timeout=20000)
    assert view.get_attribute("data-state") == "ready"
    assert int(view.get_attribute("data-note-count")) == 7200
    first = page.evaluate(DRAW_TIME, [view.element_handle(), None])
    assert (first["start"], first["end"]) == (0, 30) and first["visible"] == 60, first
    whole = page.evaluate(DRAW_TIME, [view.element_handle(), "all"])
    assert whole["start"] == 0 and whole["end"] == pytest.approx(3600, abs=0.05) and whole["visible"] == 7200, whole
    assert whole["ms"] < 1000, whole  # one frame of the whole hour: a few pixels' columns, not 180 000 segments
    zoomed = page.evaluate(DRAW_TIME, [view.element_handle(), "in"])
    assert zoomed["end"] - zoomed["start"] == pytest.approx(1800, abs=0.05), zoomed
    with capsys.disabled():
        print(f"\nmelody view of an hour: 30 s drawn in {first['ms']:.0f} ms, the hour in {whole['ms']:.0f} ms, "
              f"half of it in {zoomed['ms']:.0f} ms (two animation frames each)")
