"""The docs site builds strictly and documents every hook and component kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mertk
import mertk.hookspecs
from mertk.plugins import BUILTIN_PLUGINS
from mertk.registry import KINDS
from mertk.testing import components_with

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "docs" / "plugins" / "directory.md"
EXAMPLE = ROOT / "examples" / "mertk-example-plugin"
#: Plugins that ship with mertk (core's built-ins, the in-tree plug-in sets) and the example plugin.
SHIPPED = (*BUILTIN_PLUGINS, "dual_atme", "baselines", "example")


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
    assert len(hooks) == len(KINDS) + 4  # + commands, config sections, config dirs, the deprecated alias
    for hook in hooks:
        assert f'id="mertk.hookspecs.{hook}"' in html, f"hook {hook} missing from the hook reference"
        assert getattr(mertk.hookspecs, hook).__doc__, f"hook {hook} has no docstring"


def test_every_kind_has_a_contract(site):
    text = (ROOT / "docs" / "plugins" / "contracts.md").read_text()
    for kind in KINDS:
        assert f"| `{kind}` |" in text, f"component kind {kind} has no row in the contracts table"


def test_shape_and_examples_sections_render(site):
    """A docstring's Shape: section is a titled box and its Examples: are highlighted code, not raw text."""
    html = (site / "methods" / "dual-atme" / "index.html").read_text()
    cbam = html[html.index('id="mertk_dual_atme.cbam.CBAM"'):html.index('id="mertk_dual_atme.losses.FocalLoss"')]
    assert '<details class="shape" open>\n  <summary>Shape</summary>' in cbam
    assert "<li>Input: <code>(B, C, H, W)</code>" in cbam
    assert '<span class="doc-section-title">Examples:</span>' in cbam
    assert '<span class="gp">&gt;&gt;&gt; </span>' in cbam


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


def _shipped_components() -> list[tuple[str, str, str]]:
    """(plugin, kind, name) of every component registered by a plugin that ships with mertk."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        import mertk_example.plugin
    finally:
        sys.path.remove(str(EXAMPLE))
    components = components_with(mertk_example.plugin)
    names = {id(mertk_example.plugin): "example"}
    out = []
    for info in components.list():
        plugin = info.plugin
        pm = components.plugin_manager
        obj = pm.get_plugin(plugin) if pm is not None else None
        plugin = names.get(id(obj), plugin)
        out.append((plugin, info.kind, info.name))
    return out


def _kind_sections(text: str) -> dict[str, str]:
    """The plugin directory's text under each ``### `kind` {#kind-...}`` heading."""
    sections: dict[str, str] = {}
    for part in text.split("\n### `")[1:]:
        kind = part.split("`", 1)[0]
        sections[kind] = part
    return sections


def _missing_from_directory(shipped: list[tuple[str, str, str]], text: str) -> list[str]:
    sections = _kind_sections(text)
    return [f"{kind} {name!r} ({plugin})" for plugin, kind, name in shipped
            if f"| `{name}` |" not in sections.get(kind, "")]


@pytest.fixture(scope="module")
def shipped() -> list[tuple[str, str, str]]:
    return [c for c in _shipped_components() if c[0] in SHIPPED]


def test_every_shipped_component_is_in_the_plugin_directory(shipped):
    assert {p for p, _, _ in shipped} >= {"dual_atme", "baselines", "example", "mertk.preprocess.plugin"}
    assert len(shipped) >= 40
    text = DIRECTORY.read_text()
    assert set(_kind_sections(text)) == set(KINDS), "the plugin directory needs one section per component kind"
    missing = _missing_from_directory(shipped, text)
    assert not missing, "add these components to docs/plugins/directory.md: " + ", ".join(missing)


def test_directory_check_finds_a_planted_missing_component(shipped):
    text = DIRECTORY.read_text()
    assert _missing_from_directory(shipped, text.replace("| `cbam` |", "| `cbam2` |")) == ["attention 'cbam' (dual_atme)"]
    # a component listed under the wrong kind does not count
    moved = text.replace("| `eca` |", "| `eca-x` |").replace("| `poly1` |", "| `poly1` | x |\n| `eca` |")
    assert _missing_from_directory(shipped, moved) == ["attention 'eca' (example)"]


def test_every_registered_component_appears_on_the_site(site):
    """Whatever the installed plugins, each registered component is named somewhere on the site."""
    text = "\n".join(p.read_text(errors="replace") for p in site.rglob("*.html"))
    missing = [f"{info.kind} {info.name!r} ({info.plugin})" for info in mertk.load_components(autoload=False).list()
               if f"<code>{info.name}</code>" not in text]
    assert not missing, "undocumented components: " + ", ".join(missing)


def test_directory_arguments_are_generated(site):
    html = (site / "plugins" / "directory" / "index.html").read_text()
    assert "<!-- args" not in html
    assert "<code>reduction=16</code>" in html  # cbam's argument, read from its signature


def test_every_config_key_is_documented(site):
    import mertk
    from mertk.config import run_config_model

    html = (site / "configs" / "index.html").read_text()

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            yield prefix + name
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                yield from keys(annotation, f"{prefix}{name}.")

    all_keys = list(keys(run_config_model(mertk.load_components())))
    assert "preprocess.align.size" in all_keys and "train.optimizer.lr" in all_keys
    missing = [k for k in all_keys if f"<code>{k}</code>" not in html]
    assert not missing, f"config keys missing from the Configs page: {missing}"


def test_every_bundled_config_is_listed(site):
    from mertk.config import bundled_configs

    html = (site / "configs" / "index.html").read_text()
    bundled = bundled_configs(mertk.load_components(autoload=False))
    assert "dual-atme.yaml" in bundled
    assert [n for n in bundled if f"<code>{n}</code>" not in html] == []


def test_reference_pages_render_their_objects(site):
    expected = {
        "reference/preprocess": ["mertk.preprocess.pipeline.prepare", "mertk.preprocess.pipeline.Prepared"],
        "reference/engine": ["mertk.engine.schedule.run_experiment", "mertk.engine.fold.train_folds",
                             "mertk.engine.run.Run", "mertk.engine.trainer.run_epochs"],
        "reference/data": ["mertk.evaluation.metrics.evaluate", "mertk.evaluation.protocols.LeaveOneSubjectOut"],
        "reference/inference": ["mertk.artifact.load_artifact", "mertk.inference.predict.predict_clips"],
        "methods/dual-atme": ["mertk_dual_atme.model.DualATME"],
    }
    for page, ids in expected.items():
        html = (site / page / "index.html").read_text()
        for ident in ids:
            assert f'id="{ident}"' in html, f"{ident} is not rendered on {page}"


def test_docstrings_render_without_rest_leftovers(site):
    """reST literal blocks (``Text::``), doctest lines and Sphinx roles are turned into Markdown by the griffe
    extension."""
    for page in site.rglob("*.html"):
        html = page.read_text(errors="replace")
        assert "::</p>" not in html, f"{page.relative_to(site)}: a reST '::' block rendered as text"
        assert ":class:<code>" not in html and ":func:<code>" not in html, f"{page.relative_to(site)}: a Sphinx role"
        assert "```" not in html, f"{page.relative_to(site)}: a code fence rendered as text"


def test_images_are_small():
    images = list((ROOT / "docs" / "images").glob("*.png"))
    assert images
    assert [p.name for p in images if p.stat().st_size > 300_000] == []


def test_every_cli_command_and_option_is_documented(site):
    """The command-line page lists every command (core and mertk's plug-ins) with every option."""
    import html

    import click

    from mertk.cli import build_cli

    page = html.unescape((site / "cli" / "index.html").read_text())

    def walk(command, path):
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")

    commands = list(walk(build_cli([]), "mertk"))
    assert len(commands) >= 15
    for path, command in commands:
        assert f"<code>{path}</code>" in page, f"{path} is not on the command-line page"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, f"{path} {opt} is not on the command-line page"


def _handler_options() -> dict:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    plugin = next(p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    return plugin["mkdocstrings"]["handlers"]["python"]["options"]


@pytest.mark.parametrize("path, last_words", [
    ("mertk.evaluation.metrics.evaluate", "are sorted."),
    ("mertk.inference.predict.predict_clips", "and the problems met."),
    ("mertk.engine.fold.train_and_test", "``test`` is not empty) and ``seconds``."),
    ("mertk.api.FlowExtractor.__call__", "``second(x + u, y + v) ~= first(x, y)``."),
])
def test_a_multi_line_returns_section_is_one_value(path: str, last_words: str) -> None:
    """Google-style Returns: sections span several lines here; the site's parser options keep them
    one value (not one row per line, typed from the signature, with backticks cut in half)."""
    import griffe

    options = _handler_options()
    module_name = path.partition(".")[0]
    loader = griffe.GriffeLoader(docstring_parser=griffe.Parser(options["docstring_style"]),
                                 docstring_options=options.get("docstring_options", {}))
    obj = loader.load(module_name)
    for part in path.split(".")[1:]:
        obj = obj[part]
    (returns,) = [s for s in obj.docstring.parse() if s.kind.value == "returns"]
    (value,) = returns.value
    assert value.description.rstrip().endswith(last_words) and value.description.count("``") % 2 == 0


def _source_links():
    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import source_links
    finally:
        sys.path.remove(str(ROOT / "docs" / "_hooks"))
    return source_links


def test_the_site_names_no_repository_the_package_does_not(site):
    """The repository address comes from the package metadata ([project.urls]) alone; mertk
    publishes none, so the site has no repository, edit or source link (mkdocs.yml once held an
    invented one)."""
    import importlib.metadata
    import re

    source_links = _source_links()
    published = importlib.metadata.metadata("mertk").get_all("Project-URL") or []
    assert source_links.repository_url() == source_links.repository_url(published)
    assert not re.search(r"^repo_url:", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    if source_links.repository_url() is None:
        for page in ("getting-started", "reference/registry"):
            html = (site / page / "index.html").read_text()
            assert not re.search(r'href="https?://(github|gitlab)\.', html), page
            assert "doc-source-link" not in html and "md-content__button" not in html
    assert source_links.repository_url(["Homepage, https://example.org", "Repository, https://example.org/t/x"]) \
        == "https://example.org/t/x"
    assert source_links.repository_url(["Homepage, https://example.org"]) is None


def test_source_links_follow_another_repository():
    source_links = _source_links()
    assert source_links.blob_root("https://gitlab.example/a/b/", "-/edit/dev/docs/") == \
        "https://gitlab.example/a/b/-/blob/dev/"
    assert source_links.blob_root("", "edit/main/docs/") is None
    html = ('<h2 id="mertk.cpus.available_cpus" class="doc doc-heading">x'
            '<a href="#mertk.cpus.available_cpus" class="headerlink">')
    linked = source_links.add_links(html, "https://example.org/r/blob/main/")
    assert 'href="https://example.org/r/blob/main/mertk/cpus.py#L' in linked


def test_long_code_lines_wrap(site):
    css = (site / "stylesheets" / "extra.css").read_text()
    assert ".md-typeset pre > code { white-space: pre-wrap;" in css
    assert 'stylesheets/extra.css' in (site / "getting-started" / "index.html").read_text()


GETTING_STARTED = ROOT / "docs" / "_snippets" / "getting-started"


def test_getting_started_shows_one_run_made_by_the_script():
    """The page's printed lines, report and confusion matrix are files tools/getting_started.py
    wrote from one run (their hashes are in its run.json); the page holds no numbers of its own."""
    import hashlib
    import json
    import re

    page = (ROOT / "docs" / "getting-started.md").read_text()
    for name in ("command.txt", "output.txt", "tree.txt", "report.md"):
        assert f'--8<-- "getting-started/{name}"' in page
    assert "images/getting-started-confusion.png" in page and "python tools/getting_started.py" in page
    assert not re.search(r"\b0\.\d{3,4}\b", page), "a result number written into the page itself"
    record = json.loads((GETTING_STARTED / "run.json").read_text())
    files = {"command.txt": GETTING_STARTED / "command.txt", "output.txt": GETTING_STARTED / "output.txt",
             "tree.txt": GETTING_STARTED / "tree.txt", "report.md": GETTING_STARTED / "report.md",
             "getting-started-confusion.png": ROOT / "docs" / "images" / "getting-started-confusion.png"}
    assert {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()} == record["sha256"]
    assert (GETTING_STARTED / "command.txt").read_text().strip() == record["command"]
    overall = record["overall"]
    row = f"| overall | {overall['uf1']:.4f} | {overall['uar']:.4f} | {overall['accuracy']:.4f} | {overall['n']} |"
    assert row in (GETTING_STARTED / "output.txt").read_text() and row in (GETTING_STARTED / "report.md").read_text()
    report = (GETTING_STARTED / "report.md").read_text()
    f1 = [float(m) for m in re.findall(r"^\| \w+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|$", report, re.MULTILINE)]
    assert len(f1) == 3 and abs(sum(f1) / len(f1) - overall["uf1"]) < 1e-3  # the per-class table is this run's
    assert "Config: `dual-atme.yaml`" in report
    output, tree = (GETTING_STARTED / "output.txt").read_text(), (GETTING_STARTED / "tree.txt").read_text()
    assert "; executor " in output.splitlines()[0] and "\ntrain.stack_folds: " in output  # what every run prints
    assert all(f" {name} " in tree for name in ("preprocessing.csv", "per_class.png", "training_curves.png"))
    texts = [(GETTING_STARTED / n).read_text() for n in ("output.txt", "report.md")]
    assert not [t for t in texts if re.search(r"(^|[\s`(])/(work|root|home|tmp|Users)/", t)], "absolute path"


def test_getting_started_page_renders_the_run(site):
    import json

    html = (site / "getting-started" / "index.html").read_text()
    uf1 = json.loads((GETTING_STARTED / "run.json").read_text())["overall"]["uf1"]
    assert html.count(f"{uf1:.4f}") >= 4  # the printed table and the report's, overall and demo rows
    assert (site / "images" / "getting-started-confusion.png").is_file()


def test_datasets_page_shows_a_config_per_dataset(site):
    html = (site / "datasets" / "index.html").read_text()
    for name in ("dual-atme-casme2.yaml", "dual-atme-samm.yaml", "dual-atme-smic.yaml", "dual-atme-casme3.yaml",
                 "dual-atme-megc2019.yaml"):
        assert f'<span class="filename">{name}</span>' in html, name
    assert "${CASME2_ROOT}" in html and "5class" in html and "7class" in html


DEMO_PAGES = ("index.md", "methods/dual-atme.md", "performance.md")


def test_demo_results_are_a_spread_rendered_from_the_results_file():
    """The quickstart recipe's results are quoted from benchmarks/results/demo-dual-atme.jsonl
    (tools/demo_results.py), as a spread over seeds with machine, precision, version and date,
    never as one hand-typed number."""
    import json
    import re
    import statistics

    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import results
    finally:
        sys.path.remove(str(ROOT / "docs" / "_hooks"))
    records = [json.loads(line) for line in results.RESULTS.read_text().splitlines() if line.strip()]
    assert len({r["seed"] for r in records}) >= 3
    for r in records:
        assert {"seed", "command", "uf1", "uar", "accuracy", "n", "precision", "cpu", "cores", "mertk", "commit",
                "date", "seconds"} <= set(r)
        assert r["command"] == f"mertk run dual-atme.yaml --set seed={r['seed']}"
    rendered = results.table(records)
    same = [r for r in records if (r["cpu"], r["precision"], r["commit"]) ==
            (records[0]["cpu"], records[0]["precision"], records[0]["commit"])]
    uf1 = [r["uf1"] for r in same]
    assert (f"| {statistics.fmean(uf1):.4f} | {min(uf1):.4f}-{max(uf1):.4f} | " in rendered
            and records[0]["cpu"] in rendered and records[0]["precision"] in rendered)
    for page in DEMO_PAGES:
        text = (ROOT / "docs" / page).read_text()
        assert results.MARKER in text, page
        assert "0.9721" not in text, f"{page} quotes one old run as the result"
    assert not re.search(r"\b0\.\d{3,4}\b", (ROOT / "docs" / "index.md").read_text())


def test_demo_results_render_on_the_site(site):
    import json

    records = [json.loads(line) for line in
               (ROOT / "benchmarks" / "results" / "demo-dual-atme.jsonl").read_text().splitlines() if line.strip()]
    for page in ("", "methods/dual-atme/", "performance/"):
        html = (site / page / "index.html").read_text()
        assert "<!-- demo-results -->" not in html and f"{min(r['uf1'] for r in records):.4f}" in html, page


def test_au_demo_results_are_a_spread_with_chance_rendered_from_the_results_file():
    """The AU configs' demo results are quoted from benchmarks/results/demo-aus.jsonl
    (tools/demo_results.py --aus): both configs, at least 3 seeds each, mean ± sd, range and per-AU
    means, beside the chance levels the script computed from the same runs' labels."""
    import json
    import statistics

    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import results
    finally:
        sys.path.remove(str(ROOT / "docs" / "_hooks"))
    records = [json.loads(line) for line in results.AU_RESULTS.read_text().splitlines() if line.strip()]
    for recipe in ("resnet18-aus.yaml", "dual-atme-aus.yaml"):
        assert len({r["seed"] for r in records if r["recipe"] == recipe}) >= 3, recipe
    for r in records:
        assert {"seed", "command", "au_f1", "per_au", "support", "aus", "n", "chance", "precision", "cpu", "cores",
                "mertk", "commit", "date", "seconds"} <= set(r)
        assert r["command"].startswith(f"mertk run {r['recipe']} --set seed={r['seed']}")
        assert set(r["per_au"]) == set(r["aus"]) and {"all_present", "prevalence"} <= set(r["chance"])
    rendered = results.au_table(records)
    first = records[0]
    same = [r for r in records if (r["recipe"], r["cpu"], r["precision"], r["commit"]) ==
            (first["recipe"], first["cpu"], first["precision"], first["commit"])]
    f1 = [r["au_f1"] for r in same]
    assert f"| {statistics.fmean(f1):.4f} ± {statistics.stdev(f1):.4f} | {min(f1):.4f}-{max(f1):.4f} | " in rendered
    assert f"{statistics.fmean(r['per_au'][first['aus'][0]] for r in same):.3f}" in rendered
    assert f"| {first['chance']['all_present']['au_f1']:.4f} |" in rendered
    assert f"| {first['chance']['prevalence']['au_f1']:.4f} |" in rendered
    assert results.AU_MARKER in (ROOT / "docs" / "action-units.md").read_text()


def test_the_demo_au_visibility_table_is_what_the_script_measures():
    """The Action units page explains AU6 with tools/demo_au_visibility.py's table, regenerated here
    from the flows demo (seconds, nothing trained): the page types none of its numbers."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import demo_au_visibility
    finally:
        sys.path.remove(str(ROOT / "tools"))
    snippet = demo_au_visibility.OUTPUT.read_text()
    assert demo_au_visibility.table(demo_au_visibility.measure(seed=0)) in snippet
    assert "Flows demo seed 0; measured by `python tools/demo_au_visibility.py`" in snippet
    assert '--8<-- "action-units/demo-au-visibility.md"' in (ROOT / "docs" / "action-units.md").read_text()


def test_au_demo_results_render_on_the_site(site):
    import json

    records = [json.loads(line) for line in
               (ROOT / "benchmarks" / "results" / "demo-aus.jsonl").read_text().splitlines() if line.strip()]
    html = (site / "action-units" / "index.html").read_text()
    assert "<!-- demo-au-results -->" not in html
    assert f"{min(r['au_f1'] for r in records):.4f}" in html and "every AU present" in html


def test_the_run_folder_tree_describes_every_entry_or_stops(tmp_path):
    """tools/getting_started.py lists the real run folder; an entry it cannot describe stops it,
    so the page's tree cannot silently miss a file (it once lacked preprocessing.csv)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import getting_started
    finally:
        sys.path.remove(str(ROOT / "tools"))
    run = tmp_path / "dual-atme-20261207-120000"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.json").write_text("{}")
    for name in ("config.yaml", "preprocessing.csv", "per_class.png"):
        (run / name).write_text("")
    tree = getting_started.folder_tree(run)
    assert tree.splitlines()[0] == "runs/dual-atme-<timestamp>/"
    assert [line.split()[1] for line in tree.splitlines()[1:]] == ["config.yaml", "preprocessing.csv",
                                                                   "per_class.png", "model/", "model.json"]
    (run / "new.csv").write_text("")
    with pytest.raises(SystemExit, match=r"\['new.csv'\], which ENTRIES does not describe"):
        getting_started.folder_tree(run)


def test_the_contracts_page_lists_every_optional_ability_from_its_protocol(site):
    """The optional-abilities table is generated from mertk.api.ABILITIES: every protocol is there
    with its members, each is runtime-checkable (mertk tests components with isinstance), and each
    names kinds that exist."""
    from mertk.api import ABILITIES

    html = (site / "plugins" / "contracts" / "index.html").read_text()
    assert "<!-- optional-abilities -->" not in html and "&lt;!-- optional-abilities" not in html
    for ability in ABILITIES:
        assert f"<code>{ability.protocol.__name__}</code>" in html, ability.protocol.__name__
        assert not isinstance(object(), ability.protocol)  # runtime-checkable: a TypeError otherwise
        assert set(ability.kinds) <= {*KINDS, "any"}, ability
    assert "<code>uses_device: bool</code>" in html and "<code>origin(landmarks, shape)</code>" in html
