"""MkDocs hook: the site's repository address, from the package metadata only, and a "source"
link next to every object heading of the API reference.

The address is the package metadata's ``Repository`` (or ``Source``) URL, i.e.
``[project.urls]`` in ``pyproject.toml``; the hook sets ``repo_url`` from it (``mkdocs.yml``
holds none, so no page can name an address the project does not publish). Without one the site
has no repository link, no "edit this page" links and no source links. With one, each link
points on the branch ``edit_uri`` names (``edit/main/docs/`` -> ``blob/main/``), at the lines
the object spans, e.g. ``REPOSITORY/blob/main/mertk/registry.py#L171-L231``.
"""

from __future__ import annotations

import functools
import html
import importlib
import importlib.metadata
import inspect
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r'(<h(\d) id="((?:mertk|mertk_[a-z_]+)(?:\.[\w.]+)?)" class="doc doc-heading">)(.*?)'
                     r'(<a href="#\3" class="headerlink")', re.DOTALL)


def repository_url(project_urls: Iterable[str] | None = None) -> str | None:
    """The ``Repository`` (else ``Source``) address among ``project_urls``, the package
    metadata's ``Project-URL`` entries (``"Repository, https://..."``: ``pyproject.toml``'s
    ``[project.urls]``, mertk's own by default); ``None`` without one."""
    if project_urls is None:
        project_urls = importlib.metadata.metadata("mertk").get_all("Project-URL") or []
    urls = dict(entry.split(",", 1) for entry in project_urls if "," in entry)
    urls = {label.strip(): url.strip() for label, url in urls.items()}
    return urls.get("Repository") or urls.get("Source") or None


def blob_root(repo_url: str | None, edit_uri: str | None) -> str | None:
    """``https://host/owner/repo/blob/BRANCH/`` from the two mkdocs settings, or ``None`` without a repository."""
    if not repo_url:
        return None
    uri = (edit_uri or "edit/main/docs/").strip("/")
    uri = re.sub(r"^(-/)?edit/", lambda m: f"{m.group(1) or ''}blob/", uri)
    uri = re.sub(r"/?docs$", "", uri)
    return f"{repo_url.rstrip('/')}/{uri}/"


def _resolve(identifier: str) -> object | None:
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = inspect.getattr_static(obj, part)
        except AttributeError:
            return None
        return obj
    return None


@functools.cache
def source_location(identifier: str) -> tuple[str, int | None, int | None] | None:
    """``(path relative to the repository, first line, last line)`` of a documented object; lines
    are ``None`` for data (the module file is linked), the whole result ``None`` outside the repository."""
    obj = _resolve(identifier)
    if obj is None:
        return None
    target = getattr(obj, "fget", None) or getattr(obj, "func", None) or getattr(obj, "__func__", None) or obj
    try:
        file = inspect.getsourcefile(target)  # type: ignore[arg-type]
        lines, start = inspect.getsourcelines(target)  # type: ignore[arg-type]
        span: tuple[int | None, int | None] = (start, start + len(lines) - 1)
    except TypeError:  # data: link the module that defines it
        module = importlib.import_module(identifier.rsplit(".", 1)[0]) if "." in identifier else None
        file, span = (inspect.getsourcefile(module) if module else None), (None, None)
    except OSError:
        return None
    if file is None:
        return None
    try:
        relative = Path(file).resolve().relative_to(ROOT)
    except ValueError:
        return None
    return relative.as_posix(), *span


def add_links(page_html: str, root: str) -> str:
    """Insert a source link before the permalink of each mertk object heading."""
    def link(match: re.Match[str]) -> str:
        location = source_location(match.group(3))
        if location is None:
            return match.group(0)
        path, start, end = location
        href = root + path + (f"#L{start}-L{end}" if start else "")
        anchor = (f'<a href="{html.escape(href)}" class="doc-source-link" title="Source code of {match.group(3)}">'
                  "source</a>")
        return match.group(1) + match.group(4) + anchor + match.group(5)

    return HEADING.sub(link, page_html)


def on_config(config):
    config["repo_url"] = repository_url()
    if config["repo_url"]:
        config["repo_name"] = config["repo_url"].rstrip("/").rsplit("/", 1)[-1]
    else:  # no repository: no edit links either
        config["edit_uri"] = None
    return config


def on_page_content(html_text: str, page: object, config: dict, files: object) -> str:
    root = blob_root(config.get("repo_url"), config.get("edit_uri"))
    if root is None or "doc-heading" not in html_text:
        return html_text
    return add_links(html_text, root)
