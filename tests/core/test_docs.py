"""The docs site builds strictly and documents every hook and component kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mertk.hookspecs
from mertk.registry import KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_hook_is_documented(site):
    html = (site / "plugins" / "hooks" / "index.html").read_text()
    hooks = [n for n in dir(mertk.hookspecs) if n.startswith(("register_", "mertk_"))]
    assert len(hooks) == len(KINDS) + 2
    for hook in hooks:
        assert f'id="mertk.hookspecs.{hook}"' in html, f"hook {hook} missing from the hook reference"
        assert getattr(mertk.hookspecs, hook).__doc__, f"hook {hook} has no docstring"


def test_every_kind_has_a_contract(site):
    text = (ROOT / "docs" / "plugins" / "contracts.md").read_text()
    for kind in KINDS:
        assert f"| `{kind}` |" in text, f"component kind {kind} has no row in the contracts table"


def _check_site():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import check_site
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return check_site


def test_no_broken_links_and_every_page_loads(site):
    check_site = _check_site()
    assert check_site.broken_links(site) == []
    with check_site.serve(site) as base:
        assert check_site.unreachable_pages(site, base) == []
    assert "plugins/tutorial/" in check_site.pages(site)


def test_link_checker_finds_planted_defects(site, tmp_path):
    import shutil

    check_site = _check_site()
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    page = copy / "getting-started" / "index.html"
    page.write_text(page.read_text().replace("</article>", '<a href="../nowhere/">x</a><a href="../#nope">y</a></article>'))
    problems = check_site.broken_links(copy)
    assert problems == ["getting-started/index.html: broken link '../nowhere/'",
                        "getting-started/index.html: link '../#nope' points to a missing anchor"]


def test_pages_render_in_chromium(site):
    check_site = _check_site()
    if not check_site.chromium():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with check_site.serve(site) as base:
        for path in ["", "plugins/tutorial/", "reference/registry/"]:
            dom = check_site.rendered_text(base + path)
            assert "<article" in dom and "mertk" in dom, f"{path} did not render"
