"""Render a page in headless Chromium and read the screenshot's pixels with the standard library."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The chromium executable; fails with the install command when it is missing."""
    path = shutil.which("chromium")
    if path is None:
        raise AssertionError("chromium is not on PATH; install it with: apt-get install chromium")
    return path


def render(page: Path, work: Path, size: str = "1200,1600") -> tuple[Path, str]:
    """Screenshot the page and dump its rendered DOM; return the PNG path and the DOM."""
    base = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={size}"]
    shot = work / "shot.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", page.resolve().as_uri()], capture_output=True, timeout=60, check=True
    )
    dom = subprocess.run([*base, "--dump-dom", page.resolve().as_uri()], capture_output=True, timeout=60, check=True)
    return shot, dom.stdout.decode("utf-8", "replace")


def read_png(path: Path) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and the unfiltered rows of an 8-bit RGB/RGBA PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        header, idat = (chunk, idat) if kind == b"IHDR" else (header, idat + chunk if kind == b"IDAT" else idat)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit, non-interlaced RGB/RGBA is supported (depth {depth}, type {color})")
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def count_colors(path: Path, hex_colors: list[str], tolerance: int = 12) -> dict[str, int]:
    """How many pixels of the PNG are within tolerance (per channel) of each colour."""
    width, _, bpp, rows = read_png(path)
    counts = dict.fromkeys(hex_colors, 0)
    targets = {c: bytes.fromhex(c.lstrip("#")) for c in hex_colors}
    for row in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            for color, (tr, tg, tb) in targets.items():
                if abs(r - tr) <= tolerance and abs(g - tg) <= tolerance and abs(b - tb) <= tolerance:
                    counts[color] += 1
    return counts


def layout(page: Path, work: Path, selectors: list[str], size: str = "1280,1600") -> dict[str, list[dict[str, float]]]:
    """Where Chromium lays out the elements each CSS selector matches: a list of {x, y, width, height} per selector.

    A copy of the page gets a script that writes the boxes into the DOM (the report itself runs no script and its
    Content-Security-Policy forbids one, so the copy drops that meta tag)."""
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text(encoding="utf-8"))
    script = ("<script>const out = {};for (const s of %s) out[s] = [...document.querySelectorAll(s)].map(e => {"
              "const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height};});"
              "const p = document.createElement('pre'); p.id = 'layout'; p.textContent = JSON.stringify(out);"
              "document.body.appendChild(p);</script>") % json.dumps(selectors)
    copy = work / "layout.html"
    copy.write_text(text.replace("</body>", script + "</body>"), encoding="utf-8")
    base = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={size}"]
    dom = subprocess.run([*base, "--dump-dom", copy.resolve().as_uri()], capture_output=True, timeout=60, check=True)
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom.stdout.decode("utf-8", "replace"), re.S)
    if found is None:
        raise AssertionError("Chromium ran no script on the page copy: no layout to read")
    return json.loads(html.unescape(found.group(1)))
