"""Sphinx configuration of the acme-parallel documentation.

Build (offline, warnings are errors), from the repository root::

    python -m sphinx -W -b html doc/source doc/build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

# Document the package of this checkout, also when it is not installed.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from acme import __version__  # noqa: E402

# -- Project -----------------------------------------------------------------------------
project = "acme-parallel"
author = "The acme-parallel developers"
copyright = f"2026, {author}"
release = __version__
version = ".".join(__version__.split(".")[:2])

# -- General -----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
# No sphinx.ext.intersphinx: the build must work without network access.

templates_path: list[str] = []
exclude_patterns: list[str] = []
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
language = "en"
pygments_style = "sphinx"
nitpicky = False

# -- autodoc / napoleon ------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"
autodoc_default_options = {
    "undoc-members": False,
    "show-inheritance": True,
}
autoclass_content = "class"
autodoc_preserve_defaults = True

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
napoleon_use_ivar = True
napoleon_include_init_with_doc = False

# -- HTML --------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"acme-parallel {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "One function, many inputs, every result on disk",
    "fixed_sidebar": True,
}

# -- Pages written separately ------------------------------------------------------------
# index.rst lists these pages in its toctree, and other pages link to them. Until a page
# exists, its toctree entry is dropped and links to it are rendered as plain text, so the
# build stays warning-free; once the .rst file is added, both appear without any change.
PENDING_PAGES = ("results", "clusters", "debugging", "performance")
_SOURCE_DIR = Path(__file__).resolve().parent
_MISSING = {page for page in PENDING_PAGES if not (_SOURCE_DIR / f"{page}.rst").exists()}


def _drop_missing_from_toctree(app, docname, source):
    if docname != "index" or not _MISSING:
        return
    lines = source[0].splitlines(keepends=True)
    source[0] = "".join(line for line in lines
                        if not (line.startswith("   ") and line.strip() in _MISSING))


def _unlink_missing_pages(app, env, node, contnode):
    if node.get("reftype") == "doc" and node.get("reftarget") in _MISSING:
        return contnode
    return None


def setup(app):
    app.connect("source-read", _drop_missing_from_toctree)
    app.connect("missing-reference", _unlink_missing_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
