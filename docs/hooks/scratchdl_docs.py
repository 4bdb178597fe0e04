"""MkDocs hook of the scratchdl site.

- KaTeX: the files of the katex npm package (`make katex` unpacks it into .cache/katex) are
  added to the site under assets/katex/, so equations render with nothing from another host.
- reference/cli.md is generated from the real parser (cli_reference.py).
- `<!-- recipe NAME -->` on a chapter page becomes the recipe's command, published number,
  measured number and wall time, read from its `[result]` table: README's results table
  (`scratchdl list --format md`) comes from the same tables. `<!-- results-table -->` becomes
  the whole table, grouped by chapter.
- `[text](repo:PATH)` links a file of the repository (source, tests, benchmarks): PATH gets a
  page of its own under code/ with the file's text, highlighted.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
import tomllib
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from cli_reference import cli_markdown  # noqa: E402

REPO_LINK = re.compile(r"\]\(repo:([^)#\s]+)(#[^)\s]*)?\)")
RECIPE = re.compile(r"<!-- recipe ([a-z0-9-]+) -->")
RESULTS = "<!-- results-table -->"
KATEX_FILES = ("katex.min.js", "katex.min.css")
LANGUAGES = {".py": "python", ".toml": "toml", ".md": "markdown", ".txt": "text"}


def katex_dir() -> Path:
    return Path(os.environ.get("SCRATCHDL_KATEX", ROOT / ".cache/katex/package/dist"))


def on_config(config):
    if not (katex_dir() / "katex.min.js").is_file():
        raise PluginError(
            f"KaTeX not found in {katex_dir()}: run `make katex` (npm pack of the pinned "
            "version) or set SCRATCHDL_KATEX to a katex/dist folder"
        )
    return config


def on_files(files: Files, config) -> Files:
    kdir = katex_dir()
    for path in sorted(kdir.rglob("*")):
        rel = path.relative_to(kdir).as_posix()
        wanted = rel.startswith(("fonts/", "contrib/auto-render")) or rel in KATEX_FILES
        if path.is_file() and wanted:
            files.append(File.generated(config, f"assets/katex/{rel}", abs_src_path=str(path)))
    from scratchdl.cli.main import build_parser

    files.append(File.generated(config, "reference/cli.md", content=cli_markdown(build_parser())))
    for target in sorted(_repo_links(Path(config["docs_dir"]))):
        source = ROOT / target
        if not source.is_file():
            raise PluginError(f"a page links repo:{target}, which does not exist")
        fence = "`" * 5
        lang = LANGUAGES.get(source.suffix, "text")
        text = (  # out of the search index: it would be most of it (and of the build time)
            f"---\nsearch:\n  exclude: true\n---\n\n# `{target}`\n\n"
            f'{fence}{lang} linenums="1"\n{source.read_text()}{fence}\n'
        )
        files.append(File.generated(config, f"code/{target}.md", content=text))
    return files


def _repo_links(docs_dir: Path) -> set[str]:
    found = set()
    for page in docs_dir.rglob("*.md"):
        found.update(m.group(1) for m in REPO_LINK.finditer(page.read_text()))
    return found


def on_page_markdown(markdown: str, page, config, files) -> str:
    here = posixpath.dirname(page.file.src_uri)

    def repo_link(m: re.Match) -> str:
        target = posixpath.relpath(f"code/{m.group(1)}.md", here)
        return f"]({target}{m.group(2) or ''})"

    markdown = REPO_LINK.sub(repo_link, markdown)
    markdown = RECIPE.sub(lambda m: _recipe_block(m.group(1)), markdown)
    if RESULTS in markdown:
        markdown = markdown.replace(RESULTS, _results_table(here))
    return markdown


def _recipe(name: str) -> dict:
    from scratchdl.recipes import RECIPE_DIR, recipe_data
    from scratchdl.recipes.defaults import DEFAULTS

    path = RECIPE_DIR / f"{name}.toml"
    if not path.is_file():
        raise PluginError(f"<!-- recipe {name} -->: no such recipe")
    with open(path, "rb") as f:
        metric = tomllib.load(f).get("target", {}).get("metric", DEFAULTS["target"]["metric"])
    data = recipe_data(name)
    if "result" not in data:
        raise PluginError(f"recipe {name} has no [result] table")
    return {"recipe": name, "metric": metric, **data}


def _recipe_block(name: str) -> str:
    from scratchdl.recipes.chapters import ours, wall_time

    r = _recipe(name)
    res = r["result"]
    note = f" ({res['note']})" if res.get("note") else ""
    return "\n".join(
        [
            "| command | published | ours | wall time |",
            "|---|---|---|---|",
            f"| `{res['command']}` | {res['published']} | **{ours(r['metric'], res['value'])}**"
            f"{note} | {wall_time(res)} ({res['machine']}) |",
        ]
    )


def _results_table(here: str) -> str:
    from scratchdl.recipes import list_recipes
    from scratchdl.recipes.chapters import CHAPTERS, results_markdown

    table = results_markdown([_recipe(n) for n in list_recipes()])
    for number, chapter in enumerate(CHAPTERS, 1):  # chapter rows link to their pages
        link = posixpath.relpath(chapter.page, here)
        table = table.replace(
            f"| **{number}. {chapter.title}** |", f"| **[{number}. {chapter.title}]({link})** |"
        )
    return table
