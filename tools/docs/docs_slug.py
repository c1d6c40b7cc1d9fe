"""Heading ids as quarto (pandoc) makes them, so nbdev's doc links (`learner.html#learner.fit`)
point at the same anchors in the quarto site and in the `make docs` site.

mkdocs loads this through `markdown_extensions: toc: slugify` in the generated mkdocs.yml.
"""
import re, unicodedata

def slugify(value, separator='-'):
    "Lower case; keep letters, digits, `_`, `-`, `.`; spaces become `separator`; no leading non-letters."
    value = unicodedata.normalize('NFKD', str(value)).lower()
    value = re.sub(r'[^\w\s.-]', '', value).strip()
    value = re.sub(r'\s+', separator, value)
    return re.sub(r'^[^a-z]+', '', value)
