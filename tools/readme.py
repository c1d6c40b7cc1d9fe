"""Generate README.md from nbs/index.ipynb, without quarto: `make readme`; `make check-readme` checks it.

nbs/index.ipynb (settings.ini's `readme_nb`) is the source of both the README and the docs site's home
page, so README.md is never edited by hand. The output is what nbdev_readme makes with quarto's gfm writer:
- the notebook's title cell (`# title`, `> summary`, nbdev's `- key: value` lines; read as nbdev reads it,
  so the rest of that cell is dropped) becomes `# title` and the summary as a blockquote;
- markdown cells are copied verbatim, except that links to notebooks, `(00_datasets.ipynb)`, become
  `(nbs/00_datasets.ipynb)` so that they work on GitHub;
- code cells become ```python blocks without their `#|` directives; cells marked `#| hide`,
  `#| include: false` or `#| echo: false` are left out (the notebook is committed without outputs).

    python tools/readme.py            # write README.md
    python tools/readme.py --check    # exit 1, with a one-line message, when README.md is out of date
"""
import argparse, configparser, json, os, re, sys, tempfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def _settings():
    "nbs_path and readme_nb from settings.ini (nbdev's defaults when absent)."
    cfg = configparser.ConfigParser()
    cfg.read(root/'settings.ini', encoding='utf-8')
    d = cfg['DEFAULT']
    return d.get('nbs_path', 'nbs'), d.get('readme_nb', 'index.ipynb')

# nbdev's frontmatter rules (nbdev/frontmatter.py: _md2dict)
_re_title = re.compile(r'^#\s+(\S.*?)\s*$', re.M)
_re_summary = re.compile(r'^>\s+(\S.*?)\s*$', re.M)
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_nb_link = re.compile(r'\]\(\s*(?![a-zA-Z][\w+.-]*:|/|#)([^)\s]+\.ipynb(?:#[^)\s]*)?)(\s*(?:"[^"]*")?\s*)\)')
_re_fence = re.compile(r'^\s*(```|~~~)')

def _yaml(text):
    "A frontmatter block as a dict (PyYAML comes with nbdev; without it, only `title:` and `description:`)."
    try: import yaml
    except ImportError: return dict(re.findall(r'^(title|description):\s*["\']?(.*?)["\']?\s*$', text, re.M))
    return yaml.safe_load(text) or {}

def _directives(src):
    "Split the `#|` directive lines off the top of a code cell: ({name: value}, rest of the source)."
    lines, opts = src.splitlines(), {}
    while lines and (m := _re_directive.match(lines[0])):
        opts[m.group(1).lower()] = m.group(2).strip('"\'').lower(); lines.pop(0)
    return opts, '\n'.join(lines)

def _link_notebooks(md, nbs_path):
    "Point relative links to notebooks at `nbs_path`, outside fenced code blocks."
    out, fenced = [], False
    for line in md.split('\n'):
        if _re_fence.match(line): fenced = not fenced
        elif not fenced: line = _re_nb_link.sub(lambda m: f'](' + _join(nbs_path, m.group(1)) + m.group(2) + ')', line)
        out.append(line)
    return '\n'.join(out)

def _join(nbs_path, url):
    url = url[2:] if url.startswith('./') else url
    return url if url.startswith(nbs_path.rstrip('/') + '/') else f"{nbs_path.rstrip('/')}/{url}"

def readme(nb_file, nbs_path):
    "The text of README.md generated from the notebook `nb_file`."
    try: nb = json.loads(Path(nb_file).read_text(encoding='utf-8'))
    except FileNotFoundError:
        sys.exit(f'readme: {nb_file} not found: it is the source of README.md (settings.ini readme_nb)')
    except json.JSONDecodeError as e: sys.exit(f'readme: {nb_file} is not valid notebook JSON ({e}): fix or restore it')
    title = summary = None
    parts = []
    for c in nb.get('cells', []):
        src = ''.join(c.get('source', [])).strip('\n')
        kind = c.get('cell_type')
        if kind == 'raw':
            m = re.match(r'^---\s*\n(.*?)\n---\s*$', src.strip(), re.S)
            if m and title is None:  # YAML frontmatter, as nbdev reads it
                fm = _yaml(m.group(1))
                title, summary = fm.get('title'), fm.get('description')
            continue
        if kind == 'markdown' and title is None and (m := _re_title.search(src)):
            title = m.group(1)
            summary = (s.group(1) if (s := _re_summary.search(src)) else None)
            continue  # nbdev turns the whole cell into the page's frontmatter
        if kind == 'markdown':
            if src.strip(): parts.append(_link_notebooks(src.rstrip(), nbs_path))
        elif kind == 'code':
            opts, code = _directives(src)
            hidden = 'hide' in opts or opts.get('include') == 'false' or opts.get('echo') == 'false'
            if hidden or not code.strip(): continue
            code = code.strip('\n').rstrip()
            parts.append(f'```python\n{code}\n```')
    if title is None:
        sys.exit(f'readme: {nb_file} has no title: its first markdown cell should be `# title` then `> summary`')
    src_name = Path(nb_file).relative_to(root).as_posix() if Path(nb_file).is_relative_to(root) else str(nb_file)
    head = [f'# {title}'] + ([f'> {summary}'] if summary else [])
    head.append(f'<!-- WARNING: THIS FILE WAS AUTOGENERATED FROM {src_name} BY tools/readme.py! '
                'Edit the notebook, then run `make readme`. -->')
    return '\n\n'.join(head + parts) + '\n'

def write_atomic(path, text):
    "Write `text` to `path` through a temporary file renamed into place, so README.md is never half written."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='\n') as f: f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True); raise

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--check', action='store_true', help='only check that README.md is what the notebook generates')
    a = p.parse_args()
    nbs_path, readme_nb = _settings()
    nb_file, out = root/nbs_path/readme_nb, root/'README.md'
    text = readme(nb_file, nbs_path)
    if a.check:
        current = out.read_text(encoding='utf-8') if out.exists() else None
        if current != text:
            what = 'is missing' if current is None else f'differs from what {nbs_path}/{readme_nb} generates'
            sys.exit(f'README.md {what}: edit the notebook (never README.md), run `make readme` and commit both')
        print(f'README.md is up to date with {nbs_path}/{readme_nb}')
        return
    write_atomic(out, text)
    print(f'wrote README.md from {nbs_path}/{readme_nb}')

if __name__ == '__main__': main()
