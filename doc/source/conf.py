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
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "description": "One function, many inputs, every result on disk",
    "fixed_sidebar": True,
    # alabaster's fixed 940 px page leaves the ten-column benchmark tables no room
    "page_width": "95%",
    "body_max_width": "none",
}
