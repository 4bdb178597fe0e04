"""The docs are tested like code.

Every `scratchdl` command in README and docs/**/*.md is parsed by the real parser (and `run`
lines with `--set` are resolved against their recipe), every Python block compiles and runs,
README's results table equals `scratchdl list --format md`, every recipe sits on exactly one
chapter page (its own chapter's), the chapter pages follow the curriculum and their outline,
the site builds with `mkdocs build --strict`, and a headless chromium opens it offline.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from scratchdl.cli.main import build_parser
from scratchdl.errors import UserError
from scratchdl.recipes import list_recipes, load_recipe, recipe_data
from scratchdl.recipes.chapters import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
TEXTS = [README, *PAGES]
FENCE = re.compile(r"^([ \t]*)(`{3,})(\w*)[^\n]*\n(.*?)^\1\2\s*$", re.S | re.M)
OUTLINE = ["What it teaches", "The code", "The proof", "Experiments", "Try this",
           "In the book and the course"]  # fmt: skip
KATEX = Path(os.environ.get("SCRATCHDL_KATEX", ROOT / ".cache/katex/package/dist"))
CHROMIUM = Path("/usr/bin/chromium")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _fenced(path: Path, langs: tuple[str, ...]) -> list[str]:
    text = path.read_text()
    return [textwrap.dedent(m.group(4)) for m in FENCE.finditer(text) if m.group(3) in langs]


def _command_lines() -> list[tuple[str, str]]:
    """(file, line) for every line of a bash block that runs scratchdl."""
    found = []
    for path in TEXTS:
        for block in _fenced(path, ("bash", "console", "sh")):
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("scratchdl "):
                    found.append((_name(path), line))
    return found


def _inline_mentions() -> list[tuple[str, str]]:
    """(file, text) for every `scratchdl ...` code span outside code blocks."""
    found = []
    for path in TEXTS:
        prose = FENCE.sub("", path.read_text())
        found += [(_name(path), m) for m in re.findall(r"`(scratchdl [^`]+)`", prose)]
    return found


def _words(line: str) -> list[str]:
    words = shlex.split(line, comments=True)[1:]
    # [--opt X] marks an optional part and RUN_DIR ... a repeat: keep the words, drop the marks
    return [w.strip("[]") for w in words if w.strip("[]") not in ("...", "")]


def _parse(words: list[str]):
    try:
        return build_parser().parse_args(words)
    except SystemExit as e:
        pytest.fail(f"does not parse ({e.code}): scratchdl {' '.join(words)}")


def test_there_is_something_to_test() -> None:
    assert len(_command_lines()) >= 80 and len(_inline_mentions()) >= 20
    assert len(PAGES) >= 19 + 7 + 1


@pytest.mark.parametrize("where,line", _command_lines())
def test_every_command_parses_and_its_keys_exist(where: str, line: str) -> None:
    args = _parse(_words(line))
    if args.command == "run" and args.recipe in list_recipes() and not args.resume:
        sets = list(args.set or []) + ([f"train.seed={args.seed}"] if args.seed is not None else [])
        try:
            load_recipe(args.recipe, sets)
        except UserError as e:
            pytest.fail(f"{where}: {line}: {e}")


@pytest.mark.parametrize("where,text", _inline_mentions())
def test_every_inline_command_names_a_real_command(where: str, text: str) -> None:
    """A mention in prose may leave out required arguments, but its command must exist."""
    words = _words(text)
    parser = build_parser()
    for i, word in enumerate(words):
        subs = [a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
        if not subs or word.startswith("-"):
            break
        assert word in subs[0].choices, f"{where}: `{text}`: no command {' '.join(words[: i + 1])}"
        parser = subs[0].choices[word]


# ---- Python blocks ------------------------------------------------------------------------


def _python_blocks() -> list[tuple[str, str]]:
    return [(_name(p), b) for p in PAGES for b in _fenced(p, ("python",))]


@pytest.mark.parametrize("where,block", _python_blocks())
def test_python_blocks_compile(where: str, block: str) -> None:
    compile(block, where, "exec")


@pytest.mark.slow
@pytest.mark.parametrize("where,block", _python_blocks())
def test_python_blocks_run(where: str, block: str, tmp_path: Path) -> None:
    """Each block in a fresh interpreter (blocks register models and tasks of their own)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{where}:\n{block}\n{done.stderr[-2000:]}"


# ---- recipes, results and chapters --------------------------------------------------------


def _readme_table() -> str:
    text = README.read_text()
    start = text.index("<!-- results table: generated by `scratchdl list --format md`")
    end = text.index("<!-- end of results table -->")
    return text[text.index("\n", start) + 1 : end].strip()


def test_readme_results_table_is_the_generated_one(capsys: pytest.CaptureFixture) -> None:
    from scratchdl.cli.main import main

    assert main(["list", "--format", "md"]) == 0
    generated = capsys.readouterr().out.strip()
    assert _readme_table() == generated, "rerun `scratchdl list --format md` into README"
    assert generated.count("\n| `") == len(list_recipes())


def test_readme_is_at_most_250_lines() -> None:
    assert len(README.read_text().splitlines()) <= 250


@pytest.mark.parametrize("path", TEXTS, ids=_name)
def test_no_dates_or_issue_numbers_outside_the_speed_changelog(path: Path) -> None:
    if path == DOCS / "reference/speed.md":
        return
    text = path.read_text()
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "dates belong in the speed changelog"
    assert not re.search(r"\bissue \d+", text, re.I), "a reader cannot look an issue number up"


@pytest.mark.parametrize("name", list_recipes())
def test_every_recipe_has_a_chapter_and_a_result(name: str) -> None:
    data = recipe_data(name)
    assert data["chapter"] in [c.slug for c in CHAPTERS]
    result = data["result"]
    assert len(result["what"].split()) <= 8, result["what"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", result["date"])
    assert result["wall_seconds"] > 0 and result["machine"]
    args = _parse(_words(result["command"]))
    assert args.command == "run" and args.recipe == name


@pytest.mark.parametrize("key", ["result.value=1.0", "chapter=cnn", "result.date=x"])
def test_result_and_chapter_are_data_not_settings(key: str) -> None:
    cfg = load_recipe("lenet-fmnist")
    assert "result" not in cfg and "chapter" not in cfg
    with pytest.raises(UserError, match="unknown key"):
        load_recipe("lenet-fmnist", [key])


def test_a_bad_result_table_is_a_one_line_error(tmp_path: Path) -> None:
    from scratchdl.recipes import recipe_path

    text = recipe_path("mlp-fmnist").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('chapter = "backprop"', 'chapter = "nowhere"'))
    with pytest.raises(UserError, match="chapter"):
        load_recipe(str(bad))
    bad.write_text(text.replace("wall_seconds = 12", 'wall_seconds = "12"'))
    with pytest.raises(UserError, match="wall_seconds"):
        recipe_data(str(bad))


def _markers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for name in re.findall(r"<!-- recipe ([a-z0-9-]+) -->", page.read_text()):
            found.setdefault(name, []).append(str(page.relative_to(DOCS)))
    return found


@pytest.mark.parametrize("name", list_recipes())
def test_every_recipe_is_on_exactly_one_chapter_page_its_own(name: str) -> None:
    pages = _markers().get(name, [])
    assert pages == [f"chapters/{recipe_data(name)['chapter']}.md"], pages
    text = (DOCS / pages[0]).read_text()
    assert f"### `{name}`\n\n<!-- recipe {name} -->" in text, "a heading names each recipe"


def test_no_marker_names_an_unknown_recipe() -> None:
    assert set(_markers()) <= set(list_recipes())


def test_chapter_pages_follow_the_curriculum_in_the_nav() -> None:
    nav = re.findall(r"- (chapters/[a-z0-9-]+\.md)", (ROOT / "mkdocs.yml").read_text())
    assert nav == [c.page for c in CHAPTERS]
    assert sorted(p.name for p in (DOCS / "chapters").glob("*.md")) == sorted(
        Path(c.page).name for c in CHAPTERS
    )
    readme_pages = re.findall(r"\]\(docs/(chapters/[a-z0-9-]+\.md)\)", README.read_text())
    assert readme_pages == [c.page for c in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.slug)
def test_chapter_page_outline_and_book_sections(chapter) -> None:
    text = (DOCS / chapter.page).read_text()
    number = CHAPTERS.index(chapter) + 1
    assert text.startswith(f"# {number}. {chapter.title}\n")
    assert re.findall(r"^## (.+)$", text, re.M) == OUTLINE
    book = text.split("## In the book and the course", 1)[1]
    for source in ("English v1.0", "Chinese edition 2.0", "EECS 498-007"):
        assert source in book, f"{chapter.page}: names no {source} place"
    row = next(r for r in README.read_text().splitlines() if f"(docs/{chapter.page})" in r)
    recipes = sorted(re.findall(r"`([a-z0-9-]+)`", row))
    assert recipes == sorted(n for n in list_recipes() if recipe_data(n)["chapter"] == chapter.slug)


def test_repo_links_name_real_files() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(repo:([^)#\s]+)", page.read_text()):
            assert (ROOT / target).is_file(), f"{page.name} links repo:{target}"


def test_figures_are_small_and_all_used() -> None:
    used = "\n".join(p.read_text() for p in PAGES)
    for fig in (DOCS / "figures").iterdir():
        assert fig.stat().st_size < 200_000, f"{fig.name} is too large to commit"
        assert f"figures/{fig.name}" in used, f"{fig.name} is on no page"


def test_cli_reference_has_every_command_and_option() -> None:
    sys.path.insert(0, str(DOCS / "hooks"))
    from cli_reference import cli_markdown

    parser = build_parser()
    page = cli_markdown(parser)
    top = re.search(r"\{([a-z,-]+)\}", parser.format_usage()).group(1).split(",")
    for command in top:
        assert f"\n## scratchdl {command}\n" in page, command
    run_help = re.findall(r"(--[a-z-]+)", page.split("## scratchdl run\n")[1].split("\n## ")[0])
    for option in ("--epochs", "--set", "--seed", "--out", "--resume", "--json", "--nproc"):
        assert option in run_help
    assert "\n### scratchdl data fetch\n" in page and "\n### scratchdl runs rm\n" in page


# ---- the built site -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install .[docs])")
    pytest.importorskip("material", reason="mkdocs-material is not installed")
    if not (KATEX / "katex.min.js").is_file():
        pytest.skip(f"KaTeX not unpacked in {KATEX}: run `make katex`")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    return out


@pytest.mark.slow
def test_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in PAGES:
        assert (site / page.relative_to(DOCS).with_suffix(".html")).is_file(), page
    cli = (site / "reference/cli.html").read_text()
    assert "scratchdl run" in cli and "--nproc" in cli
    results = (site / "reference/results.html").read_text()
    assert results.count("<code>lenet-fmnist</code>") >= 1 and "0.9016" in results
    for name in list_recipes():  # every recipe's number reached its chapter page
        data = recipe_data(name)
        html = (site / f"chapters/{data['chapter']}.html").read_text()
        assert data["result"]["command"] in html, name
    assert not list(site.rglob("*.md")), "pages must be rendered, not copied"


@pytest.mark.slow
def test_site_opens_offline_in_chromium(site: Path) -> None:
    """Home page and one chapter over a local server: no console error, no broken image, every
    equation rendered by the site's KaTeX, search answering, no request to another host."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (as root, `make test` installs Debian's chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install .[docs]")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    outside: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith((base, "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    profile = site.parent / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), args=flags,
                viewport={"width": 1280, "height": 900},
            )  # fmt: skip
            browser.route("**/*", route)
            for path, min_math in (("index.html", 0), ("chapters/attention.html", 10)):
                page = browser.new_page()
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(base + path, wait_until="networkidle")
                state = page.evaluate(
                    """() => ({
                      math: document.querySelectorAll('.arithmatex').length,
                      rendered: document.querySelectorAll('.arithmatex .katex').length,
                      failed: document.querySelectorAll('.katex-error').length,
                      images: document.images.length,
                      broken: Array.from(document.images)
                        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)})"""
                )
                assert state["math"] >= min_math, (path, state)
                assert state["rendered"] == state["math"] and not state["failed"], (path, state)
                assert state["images"] >= 1 and not state["broken"], (path, state)
            page.click("input.md-search__input")  # typed key by key, as a reader would
            page.keyboard.type("Nadaraya", delay=50)
            page.wait_for_selector(".md-search-result__item", timeout=30_000)
            browser.close()
    finally:
        server.shutdown()
    assert not errors, errors
    assert not outside, f"requests to other hosts: {outside}"
