# Sphinx settings of the series' website (cifar_helpers/site.py copies this beside the pages it
# stages: the README as index.md, docs/*.md, the executed notebooks as student pages).
project = "cifar-notebooks"
author = "the cifar-notebooks authors"
extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]
# The notebooks were executed by the job that builds the site: show them as they are.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = [".doctrees", "**.ipynb_checkpoints"]
html_theme = "pydata_sphinx_theme"
html_title = "cifar-notebooks"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # The icon button: the field also shows "Ctrl+K", which its label "Search" does not name (axe).
    "navbar_persistent": ["search-button"],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_copy_source = False
html_static_path = ["_static"]
# The header lists the notebooks and guides; an empty "Section Navigation" column would only narrow
# the page.
html_sidebars = {"**": []}
