"""The HTML report in a real headless browser (Debian's chromium), when one is installed.

Skipped when no chromium is on PATH, except in CI (NRRC_REQUIRE_BROKER=1, set by .ci/run, which
installs Debian's chromium): there a missing browser fails the test. The manual check (look at
the screenshot) is described in the README section on reports.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_reports import sample_result

from nrrc.audit import report_html

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


@pytest.fixture(autouse=True)
def _need_chromium() -> None:
    """Skip without chromium on a developer's machine; fail in CI, which must run this."""
    if CHROMIUM is None:
        if os.environ.get("NRRC_REQUIRE_BROKER") == "1":
            pytest.fail(
                "chromium is required in CI (NRRC_REQUIRE_BROKER=1): apt-get install chromium"
            )
        pytest.skip("no chromium on PATH")


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated image data (filter bytes included) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def screenshot(html: Path, png: Path, profile: Path) -> None:
    """Render ``html`` offline in headless chromium and write a 1400x2000 screenshot."""
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
            "--window-size=1400,2000", html.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_report_renders_in_chromium_to_a_non_trivial_screenshot(tmp_path: Path) -> None:
    """The page paints: a 1400x2000 PNG with many distinct colours (bars, badges, text)."""
    html = tmp_path / "report.html"
    html.write_text(report_html.render(sample_result()), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "profile")
    width, height, pixels = png_pixels(png.read_bytes())
    assert (width, height) == (1400, 2000)
    assert png.stat().st_size > 50_000
    assert len(set(pixels)) > 100, "the screenshot is nearly blank"
