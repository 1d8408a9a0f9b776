"""The companion book: chapter notebooks, configuration, CLI and failure handling.

The site itself (a real build opened in headless Chromium) is tested in test_site.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from lstmattn.book import build as book
from lstmattn.book import site
from lstmattn.book.parameters import ChapterParameters, open_chapter
from lstmattn.cli import main
from lstmattn.engine.plan import ABLATION_SEEDS
from lstmattn.errors import LstmattnError

ROOT = Path(__file__).resolve().parents[1]
OWNED_NOTEBOOKS = tuple(sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
PARAMETERS_SOURCE = ["chapter_parameters = {}"]


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", OWNED_NOTEBOOKS)
def test_chapter_notebook_is_valid_with_parameters_cell_and_no_outputs(name: str) -> None:
    path = ROOT / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = _code_cells(notebook)
    parameters, setup = code[0], code[1]
    assert parameters.metadata.get("tags") == ["parameters"], f"{path}: first code cell must be tagged 'parameters'"
    assert [line.strip() for line in parameters.source.splitlines() if line.strip()] == PARAMETERS_SOURCE
    assert "remove-input" in setup.metadata.get("tags", []), f"{path}: the set-up cell must be tagged remove-input"
    assert "chapter = open_chapter(chapter_parameters)" in setup.source
    assert "print(chapter.banner())" in setup.source
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{path}: committed with outputs"
    assert "widgets" not in notebook.metadata, f"{path}: committed with widget state"
    # Chapters call the package: no functions, classes, colormaps, run-id surgery or JSON reading of their own,
    # and the one-shot model's registry name comes from the package.
    source = "\n".join(cell.source for cell in code)
    assert not any(line.lstrip().startswith(("def ", "class ")) for line in source.splitlines())
    for banned in ("ListedColormap", "json.load", "read_text(", "removeprefix", "removesuffix", '"one-shot-lstm-attention"'):
        assert banned not in source, f"{path}: {banned} belongs in the package"


def test_chapter_parameters_resolve_once_and_reject_unknown_names(tmp_path: Path) -> None:
    parameters = ChapterParameters.from_mapping({"max_steps": 2, "seed": 4})
    config = parameters.resolve()
    assert (config.profile, config.train.max_steps, config.train.seed) == ("quick", 2, 4)
    pinned = book.pin_config(parameters, tmp_path)
    assert pinned.config == str((tmp_path / "experiment.yaml").resolve()) and pinned.resolve() == config
    chapter = open_chapter(pinned.as_dict())
    assert chapter.config == config and chapter.profile == "quick" and chapter.seed == 4
    assert chapter.ablation_seeds == list(range(4, 4 + ABLATION_SEEDS))
    assert open_chapter({}).config.train.max_steps is None
    with pytest.raises(LstmattnError, match="unknown chapter parameter"):
        ChapterParameters.from_mapping({"max_step": 2})


def _all_values(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _all_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_values(item)
    else:
        yield value


def test_config_has_execution_off_and_no_cdn_scripts() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["thebe"] is False
    assert not any(config["launch_buttons"][key] for key in ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url"))
    sphinx = config["sphinx"]["config"]
    assert "://" not in sphinx["mathjax_path"]
    assert sphinx["nb_ipywidgets_js"] and all("://" not in path for path in sphinx["nb_ipywidgets_js"])
    assert not any(isinstance(v, str) and "://" in v for v in _all_values(sphinx)), "sphinx config must not name URLs"
    for key in ("html_js_files", "html_css_files"):
        assert not any("://" in str(v) for v in _all_values(sphinx.get(key, [])))
    assert (ROOT / "book" / config["bibtex_bibfiles"][0]).is_file()
    static = ROOT / "book" / "_static"
    assert not list(static.rglob("*.js")), "vendored scripts are fetched at build time, never committed"


def test_toc_lists_existing_pages_and_every_chapter() -> None:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    entries = [entry["file"] for entry in site._toc_entries(toc)]
    assert toc["root"] == "intro" and (ROOT / "book" / "intro.md").is_file()
    for entry in entries:
        if entry.startswith("notebooks/"):
            continue
        assert (ROOT / "book" / f"{entry}.md").is_file(), entry
    chapters = {Path(e).stem for e in entries if e.startswith("notebooks/")}
    assert {Path(name).stem for name in OWNED_NOTEBOOKS} <= chapters
    assert {p.stem for p in book.find_chapters().values()} <= chapters, "every notebook must be in the TOC"


def test_stage_sources_prunes_chapters_that_were_not_built(tmp_path: Path) -> None:
    executed = tmp_path / "notebooks" / "01_data.ipynb"
    executed.parent.mkdir()
    executed.write_text((ROOT / "notebooks" / "01_data.ipynb").read_text())
    source = site.stage_sources({1: executed}, out=tmp_path)
    toc = yaml.safe_load((source / "_toc.yml").read_text())
    files = [entry["file"] for entry in site._toc_entries(toc)]
    assert "notebooks/01_data" in files and "notebooks/06_attention" not in files
    assert "paper_vs_code" in files and (source / "notebooks" / "01_data.ipynb").is_file()


def test_unknown_chapter_gives_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chapter", "99"]) == 2
    error = capsys.readouterr().err
    assert "unknown chapter 99" in error and "01_data.ipynb" in error
    with pytest.raises(site.BookError, match="unknown chapter 42"):
        book.build_book(chapters=[42], site=False)


def _broken_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("\n".join(PARAMETERS_SOURCE), metadata={"tags": ["parameters"]})
    notebook.cells = [
        parameters,
        nbformat.v4.new_code_cell("print('before the error', chapter_parameters['max_steps'])"),
        nbformat.v4.new_code_cell("raise RuntimeError('this chapter is broken on purpose')"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def test_failing_chapter_fails_the_build_and_keeps_its_notebook(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _broken_notebook(notebooks / "09_broken.ipynb")
    out = tmp_path / "out"
    with pytest.raises(book.ChapterFailed) as caught:
        book.build_book(chapters=[9], out=out, notebooks_dir=notebooks, parameters=ChapterParameters(max_steps=3),
                        cwd=tmp_path, site=False, echo=lambda *a, **k: None)
    failure = caught.value
    kept = out / "notebooks" / "09_broken.ipynb"
    assert failure.number == 9 and failure.notebook == kept
    assert "chapter 9 (09_broken.ipynb)" in str(failure) and str(kept) in str(failure)
    assert "this chapter is broken on purpose" in str(failure)
    executed = nbformat.read(kept, as_version=4)
    outputs = json.dumps([cell.get("outputs", []) for cell in executed.cells])
    assert "RuntimeError" in outputs and "before the error 3" in outputs  # injected max_steps


def test_failing_chapter_makes_the_cli_exit_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake_root = tmp_path / "project"
    (fake_root / "notebooks").mkdir(parents=True)
    _broken_notebook(fake_root / "notebooks" / "03_broken.ipynb")
    monkeypatch.setattr(book, "PROJECT_ROOT", fake_root)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "_build"
    assert main(["book", "build", "--no-site", "--jobs", "1", "--store", "off", "--out", str(out)]) == 1  # an item failed
    error = capsys.readouterr().err
    assert "chapter 3 (03_broken.ipynb) failed" in error and str(out / "notebooks" / "03_broken.ipynb") in error
    assert (out / "notebooks" / "03_broken.ipynb").is_file()


def test_staged_chapters_hide_their_parameter_cells(tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("profile = 'paper'", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(profile)"),
    ])
    executed = tmp_path / "07_demo.ipynb"
    nbformat.write(notebook, executed)
    site._stage_notebook(executed, tmp_path / "staged.ipynb")
    tags = [cell.metadata.get("tags", []) for cell in nbformat.read(tmp_path / "staged.ipynb", as_version=4).cells]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"], []]


# --------------------------------------------------------------------------- the text of the book (issue 32)
SHARED_PAPER = ROOT.parent / "shared" / "paper" / "paper.txt"
BOOK_PAGES = tuple(sorted((ROOT / "book").glob("*.md")))
#: Chapter 5 is being rewritten by another change; it still names the shared reference files.
NOT_YET_LINKED: tuple[str, ...] = ()


def _markdown(name: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def _code(name: str) -> str:
    return "\n".join(cell.source for cell in _code_cells(nbformat.read(ROOT / "notebooks" / name, as_version=4)))


def _texts() -> dict[str, str]:
    """Every page of the site as its source text: book pages and chapter markdown."""
    return {**{path.name: path.read_text(encoding="utf-8") for path in BOOK_PAGES},
            **{name: _markdown(name) for name in OWNED_NOTEBOOKS}}


def _equations(text: str) -> dict[str, str]:
    """Display equations by their \\tag: {"3": "H = [h_1, ...]"}."""
    blocks = re.findall(r"\$\$(.*?)\$\$", text, flags=re.S)
    return {m.group(1): block.split("\\tag")[0].strip() for block in blocks if (m := re.search(r"\\tag\{(\w+)\}", block))}


@pytest.mark.parametrize("name", OWNED_NOTEBOOKS)
def test_every_glued_value_a_chapter_references_is_glued(name: str) -> None:
    glued = set(re.findall(r'glue\("([^"]+)"', _code(name)))
    referenced = set(re.findall(r"\{glue:text\}`([^:`]+)", _markdown(name)))
    assert referenced <= glued, referenced - glued


def test_chapter_2_numbers_the_attention_equations_as_the_paper_does() -> None:
    """§3.7.2: Eq. 1 is the LSTM returning H and o, Eq. 2 z = Linear(o), Eq. 3 H = [h_1 … h_β]."""
    equations = _equations(_markdown("02_model.ipynb"))
    assert set(map(str, range(1, 11))) <= set(equations)
    assert "LSTM" in equations["1"] and equations["1"].startswith("H, o")
    assert equations["2"].startswith("z =") and "(o)" in equations["2"]
    assert equations["3"].startswith("H =") and "h_1" in equations["3"] and "h_\\beta" in equations["3"]
    assert not any(body.startswith("o = h") for body in equations.values()), "o = h_β is not one of the numbered equations"


def test_chapter_4_shows_eq_11_to_13_as_printed_and_corrects_eq_11() -> None:
    text = _markdown("04_classification.ipynb")
    equations = _equations(text)
    assert {"11", "12", "13"} <= set(equations)
    assert "TP + TN" in equations["11"] and "TP + FP" in equations["12"] and "w(c)" in equations["13"]
    assert "TP + FN" in text and "slip" in text


def test_paper_vs_code_attributes_nms_to_the_code_and_counts_no_rows_by_hand() -> None:
    page = (ROOT / "book" / "paper_vs_code.md").read_text(encoding="utf-8")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in page.splitlines()
            if re.match(r"\| \d+ \|", line)]
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))
    selecting = next(row for row in rows if row[1] == "selecting β RoIs")
    section3, code = selecting[2], selecting[4]
    assert "NMS" in code and "0.25" in code and "0.25" not in section3 and "θ = −0.01" in section3
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    words = {"twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17}
    for count in re.findall(r"(\w+) (?:places|differences|rows)", intro):
        if count.isdigit() or count in words:
            assert int(words.get(count, count)) == len(rows), f"intro.md counts {count} for {len(rows)} rows"


def test_chapter_6_says_what_section_3_7_1_and_section_4_1_each_say() -> None:
    text = _markdown("06_attention.ipynb")
    order = text[text.index("`roi_order`"):]
    assert "§3.7.1" in order and "§4.1" in order and "decreasing order of their class confidence" in order
    assert "distance from the origin" in order and "(the reference code)" not in order


def test_the_book_cites_with_cite_roles_and_every_key_is_in_the_bibliography() -> None:
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(encoding="utf-8"), flags=re.M))
    cited = {key.strip() for text in _texts().values()
             for keys_ in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text) for key in keys_.split(",")}
    assert cited and cited <= keys, cited - keys
    assert {"soares2020sarscov2", "angelov2020xdnn", "fan2020infnet", "medseg2020covid", "afshar2021covidctmd"} <= cited
    for name in OWNED_NOTEBOOKS:
        bare = re.findall(r"(?<![\w`])\[\d{1,2}\](?!\()", _markdown(name))
        assert not bare, f"{name}: the paper's reference numbers {bare} as plain text; cite the work"


def test_links_and_references_lead_to_pages_of_the_site() -> None:
    labels = {label for path in BOOK_PAGES for label in re.findall(r"^\(([\w-]+)\)=$", path.read_text(encoding="utf-8"), flags=re.M)}
    staged = Path("/site")  # the staged layout: book/ pages at the top, chapters in notebooks/
    for name, text in _texts().items():
        folder = staged if name.endswith(".md") else staged / "notebooks"
        for target in re.findall(r"\]\(([^)#:]+\.(?:md|ipynb))(?:#[\w-]+)?\)", text):
            page = Path(os.path.normpath(folder / target)).relative_to(staged)
            source = ROOT / page if page.parts[0] == "notebooks" else ROOT / "book" / page
            assert source.is_file(), f"{name}: link to {target} leads nowhere"
        for label in re.findall(r"\{ref\}`(?:[^`<]*<)?([\w-]+)>?`", text):
            assert label in labels, f"{name}: {{ref}} to unknown label {label}"
        if name not in NOT_YET_LINKED:
            assert "REFERENCE_CODE" not in text and "TABLES.md" not in text, f"{name} cites a file outside the site"


def test_the_authors_code_page_numbers_every_difference_an_ablation_cites() -> None:
    from lstmattn.variants import ABLATIONS

    page = (ROOT / "book" / "reference_code.md").read_text(encoding="utf-8")
    differences = page[page.index("(code-differences)="):]
    numbered = [int(n) for n in re.findall(r"^(\d+)\. \*\*", differences, flags=re.M)]
    assert numbered == list(range(1, len(numbered) + 1))
    assert {ablation.item for ablation in ABLATIONS} <= set(numbered)
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert "reference_code" in [entry["file"] for entry in site._toc_entries(toc)]


def test_reproduction_page_types_no_result_of_a_run() -> None:
    """Chapter 7's numbers come from its run files; the status page only points to them."""
    page = (ROOT / "book" / "reproduction.md").read_text(encoding="utf-8")
    assert not re.findall(r"\d+\.\d+", page)


@pytest.mark.skipif(not SHARED_PAPER.is_file(), reason=f"{SHARED_PAPER} not found")
def test_quotes_of_the_paper_are_verbatim() -> None:
    """Every long quoted passage of a page or chapter is in the paper's text, word for word."""
    paper = " ".join(SHARED_PAPER.read_text(encoding="utf-8").split())
    for name, text in _texts().items():
        for quote in re.findall(r"(?<![^\s(])\"(\w[^\"]{60,}?\S)\"", " ".join(text.split())):
            quote = quote.rstrip(".")
            assert quote in paper, f"{name}: not in the paper: {quote!r}"


def test_chapter_kernels_run_without_the_unencrypted_tcp_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("\n".join(PARAMETERS_SOURCE), metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("print('ran', chapter_parameters['max_steps'])")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, notebooks / "09_tiny.ipynb")
    target = book.run_chapter(9, parameters=ChapterParameters(max_steps=3), out=tmp_path / "out",
                              notebooks_dir=notebooks, cwd=tmp_path)
    assert "ran 3" in json.dumps(nbformat.read(target, as_version=4).cells[-1].outputs)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
