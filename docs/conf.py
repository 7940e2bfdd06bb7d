"""Sphinx configuration of the jaxsgd documentation site: ``make docs`` builds it into build/docs.

Sphinx with myst-nb, as JAX and optax build theirs: the pages are the Markdown files
beside this one, the API reference is autodoc over each package's ``__all__`` (Google-style
docstrings through napoleon), and the tutorial notebook is executed at every build, an
error in any cell failing it. Built with warnings as errors (``-W``) by the test suite.
"""

import os
import pathlib
import re
import sys

sys.path.insert(0, os.path.abspath(".."))
import jaxsgd

project = "jaxsgd"
author = "the jaxsgd authors"
copyright = "the jaxsgd authors"
release = version = jaxsgd.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "build", "**.ipynb_checkpoints", "images"]
root_doc = "index"

# Markdown pages and the notebook
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # the tutorial runs at every build: its outputs are current or the build fails
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_in_temp = True  # files it writes go to a temporary folder, never into docs/
nb_merge_streams = True

# API reference: every name in a package's __all__, its signature and its docstring
autodoc_default_options = {"members": True, "imported-members": True, "undoc-members": True, "member-order": "bysource",
                           "show-inheritance": False}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # a NamedTuple's Attributes: section, without a second description of each field

html_theme = "alabaster"
html_title = "jaxsgd"
html_theme_options = {"description": "SGD on a sigmoid neuron, exact and compiled with JAX", "fixed_sidebar": True,
                      "page_width": "1100px", "sidebar_width": "250px"}
html_static_path: list[str] = []


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """A NamedTuple's fields are listed once, by its docstring's Attributes: section ("Alias for field
    number N" entries are dropped)."""
    return True if type(obj).__name__ == "_tuplegetter" else None


def _constant_doc(app, what, name, obj, options, lines):
    """A public constant is documented by the comment at its definition (the lines of ``#`` comment just above
    ``NAME = …`` and the comment at its end) in the package's private modules, not by its type's docstring."""
    if what != "data":
        return
    package, _, short = name.rpartition(".")
    folder = pathlib.Path(__file__).parent.parent.joinpath(*package.split("."))
    files = sorted(folder.glob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    for path in files:
        src = path.read_text().splitlines()
        for i, line in enumerate(src):
            if re.match(rf"{short}\s*(:[^=]*)?=", line):
                above = []
                j = i - 1
                while j >= 0 and src[j].startswith("#"):
                    above.insert(0, src[j].lstrip("#: ").rstrip())
                    j -= 1
                end = line.split("  # ", 1)[1].strip() if "  # " in line else ""
                text = " ".join([*above, end]).strip()
                lines[:] = [text.replace("|", "\\|").replace("*", "\\*")] if text else []
                return
    lines[:] = []


def setup(app):
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.connect("autodoc-process-docstring", _constant_doc)
