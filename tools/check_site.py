"""Check the built docs site: every page loads over HTTP, no internal link or anchor is broken,
and (where Debian's Chromium is installed) pages render in a real headless browser.

Usage::

    mkdocs build --strict -d site
    python tools/check_site.py site --screenshots docs-screenshots/

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

#: Pages photographed by ``--screenshots``: (file name, site path).
SCREENSHOTS = (
    ("home.png", ""),
    ("tutorial.png", "plugins/tutorial/"),
    ("api-registry.png", "reference/registry/"),
    ("configs.png", "configs/"),
    ("plugin-directory.png", "plugins/directory/"),
    ("preprocessing.png", "preprocessing/"),
    ("dual-atme.png", "methods/dual-atme/"),
)

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if a.get("name") and tag == "a":
            self.ids.add(a["name"] or "")
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(a[key] or "")


@functools.cache
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _target_file(site: Path, page: Path, link: str) -> tuple[Path | None, str]:
    url, fragment = urldefrag(link)
    if not url:
        return page, fragment
    rel = page.relative_to(site).as_posix()
    resolved = urlparse(urljoin(f"http://site/{rel}", url)).path.lstrip("/")
    target = site / resolved
    if target.is_dir() or resolved.endswith("/") or resolved == "":
        target = target / "index.html"
    return target, fragment


def broken_links(site: Path) -> list[str]:
    """Internal links (and #anchors) of every page that point nowhere."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        for link in _parse(page).links:
            if urlparse(link).scheme in ("http", "https", "mailto", "data", "javascript") or link.startswith("//"):
                continue
            target, fragment = _target_file(site, page, link)
            where = page.relative_to(site)
            if target is None or not target.exists():
                problems.append(f"{where}: broken link {link!r}")
            elif fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                problems.append(f"{where}: link {link!r} points to a missing anchor")
    return problems


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` on a free loopback port for the duration of the block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def pages(site: Path) -> list[str]:
    """Site paths of every page (``"plugins/tutorial/"``), the 404 page excluded."""
    out = []
    for page in sorted(site.rglob("index.html")):
        rel = page.parent.relative_to(site).as_posix()
        out.append("" if rel == "." else rel + "/")
    return out


def unreachable_pages(site: Path, base: str) -> list[str]:
    problems = []
    for path in pages(site):
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                if response.status != 200 or b"<article" not in response.read():
                    problems.append(f"{path or '/'}: no article in the page")
        except OSError as exc:
            problems.append(f"{path or '/'}: does not load ({exc})")
    return problems


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium() or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def rendered_text(url: str) -> str:
    """The DOM of ``url`` after Chromium ran the page's scripts."""
    return _chromium(["--dump-dom", url]).stdout


def screenshot(url: str, out: Path, size: str = "1280,1400") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = _chromium([f"--screenshot={out}", f"--window-size={size}", url])
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {url}: {proc.stderr[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", type=Path, help="the built site folder (mkdocs build -d SITE)")
    parser.add_argument("--screenshots", type=Path, help="save screenshots of key pages here (needs chromium)")
    args = parser.parse_args(argv)
    problems = broken_links(args.site)
    with serve(args.site) as base:
        problems += unreachable_pages(args.site, base)
        if args.screenshots:
            if not chromium():
                problems.append("chromium is not installed: apt-get install chromium")
            else:
                for name, path in SCREENSHOTS:
                    screenshot(base + path, args.screenshots / name)
                    print(f"wrote {args.screenshots / name}")
    for p in problems:
        print(p)
    print(f"{len(pages(args.site))} pages checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
