"""Build minifast's docs site without quarto: `make docs`.

The same site nbdev_docs builds with quarto, from tools that pip installs:

1. execute: each notebook in nbs/ runs as nbdev_test runs it (tools/docs/execute.py: `#| slow`
   and `#| cuda` cells and the nbdev_export cell skipped, one cell at most `--timeout` seconds),
   one at a time; an executed copy that the test runner saved in .cache/executed/ is reused
   when the notebook and minifast/ are unchanged since. A notebook that fails fails the build.
2. process: nbdev's own docs processors (what nbdev_proc_nbs runs: frontmatter, show_doc
   execution, hidden and exported cells removed, doc links) write the notebooks into _proc/.
3. convert: nbconvert turns each processed notebook into markdown plus its plot images, named
   as quarto names the pages (`04_callbacks.ipynb` -> `callbacks.html`); quarto's cell options
   (`#| echo: false` ...) are honoured, and links to notebooks or to the published site become
   links between the local pages.
4. render: mkdocs with the Material theme renders the site into _docs/, with the notebooks in
   course order (file name order, index first) in the navigation and `--strict` link checks.

Then it prints the exported names that have no show_doc (tools/docs/check_showdoc.py).
Open _docs/index.html in a browser; tools/docs/browser_test.py checks it in headless Chromium.
"""
import argparse, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parent.parent
sys.path.insert(0, str(here))
from docs_slug import slugify
from execute import saved_is_current, lib_hash, proc_nb, _no_showdoc_exec
import check_showdoc

build_dir = root/'build'/'docs'
exec_dir = root/'.cache'/'executed'
proc_dir = root/'_proc'
md_dir = build_dir/'md'
site_dir = root/'_docs'

def notebooks():
    "The notebooks of the course: nbs/*.ipynb in file name order, index first."
    nbs = [p for p in (root/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.'))]
    return sorted(nbs, key=lambda p: (p.stem != 'index', p.name))

# ---- 1. execute ----
def execute_all(nbs, timeout, flags, force, reuse_only=False, stale_ok=False):
    "Execute the notebooks not already executed; return the executed copies, or exit on a failure."
    lib = lib_hash()
    failed, srcs = [], []
    for nb in nbs:
        out = exec_dir/nb.name
        srcs.append(out)
        if not force and saved_is_current(nb, out, lib, any_lib=stale_ok):
            print(f'  reuse   {nb.name} (executed copy is current)', flush=True); continue
        if reuse_only:
            print(f'  as is   {nb.name} (no current executed copy: rendered without outputs)', flush=True)
            srcs[-1] = blank([nb])[0]; continue
        start = time.time()
        cmd = [sys.executable, str(here/'execute.py'), str(nb), '--out', str(out), '--flags', flags] + (['--timeout', str(timeout)] if timeout else [])
        r = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(f"  {'ran    ' if r.returncode == 0 else 'FAILED '} {nb.name} ({time.time()-start:.0f}s)", flush=True)
        if r.returncode: print(r.stdout[-6000:]); failed.append(nb.name)
    if failed: sys.exit(f'docs build: these notebooks failed to execute: {", ".join(failed)}')
    return srcs

def blank(nbs):
    "The notebooks as they are, without outputs (`--no-exec`: a quick look at the layout)."
    d = build_dir/'unexecuted'
    d.mkdir(parents=True, exist_ok=True)
    for nb in nbs: shutil.copy(nb, d/nb.name)
    return [d/nb.name for nb in nbs]

# ---- 2. process with nbdev ----
def process(srcs, jobs, keep_going=False):
    "Run nbdev's docs processors (as nbdev_proc_nbs does) on `srcs`, into _proc/."
    from fastcore.parallel import parallel
    from nbdev.processors import FilterDefaults
    shutil.rmtree(proc_dir, ignore_errors=True); proc_dir.mkdir(parents=True)
    for f in ('_quarto.yml', 'nbdev.yml', 'styles.css'):
        if (root/'nbs'/f).exists(): shutil.copy(root/'nbs'/f, proc_dir/f)
    items = [(s, proc_dir/s.name, FilterDefaults) for s in srcs]
    errs = [e for e in parallel(proc_nb, items, n_workers=jobs, pause=0.01, method='spawn') if e]
    if errs:
        print('\n'.join(errs))
        if keep_going:
            print('  --keep-going: rendering those notebooks without their API entries')
            bad = [s for s in srcs if any(e.startswith(s.name + ':') for e in errs)]
            parallel(proc_nb, [(s, proc_dir/s.name, _no_showdoc_exec) for s in bad], n_workers=jobs, pause=0.01, method='spawn')
            return [proc_dir/s.name for s in srcs], errs
        sys.exit(f"docs build: nbdev could not process {len(errs)} notebooks. nbdev runs a notebook's imports, "
                 "exported cells and show_doc cells on their own to render the API docs, so a cell that "
                 "imports must not also use names defined elsewhere in the notebook: split the imports "
                 "into their own cell (nbdev FAQ). nbdev_docs with quarto fails the same way.")
    return [proc_dir/s.name for s in srcs], []

# ---- 3. convert with nbconvert ----
_re_opt = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def _cell_options(src):
    "Split quarto cell options (`#| echo: false`) off the top of a code cell."
    lines, opts = src.splitlines(), {}
    while lines and (m := _re_opt.match(lines[0])):
        opts[m.group(1)] = m.group(2).strip('"\''); lines.pop(0)
    return opts, '\n'.join(lines)

def _frontmatter(src):
    import yaml
    m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, re.S)
    return (yaml.safe_load(m.group(1)) or {}) if m else {}

def to_markdown(proc_nb):
    "Markdown for one processed notebook, its page name and title, and its images."
    import nbformat
    from nbconvert import MarkdownExporter
    from traitlets.config import Config
    nb = nbformat.read(proc_nb, as_version=4)
    nb.metadata.setdefault('language_info', {'name': 'python'})  # code blocks highlighted as Python
    fm, cells, api = {}, [], []
    for c in nb.cells:
        if c.cell_type == 'raw':
            if f := _frontmatter(c.source): fm.update(f); continue
        if c.cell_type == 'code':
            opts, c.source = _cell_options(c.source)
            api += re.findall(r'^show_doc\(\s*([\w.]+)', c.source, re.M)
            if opts.get('include') == 'false': continue
            tags = set(c.metadata.get('tags', []))
            if opts.get('echo') == 'false': tags.add('remove_input')
            if opts.get('output') == 'false': c.outputs = []
            for o in c.outputs:
                # an HTML block in markdown ends at a blank line: keep each HTML output one block
                if 'text/html' in o.get('data', {}):
                    o.data['text/html'] = re.sub(r'\n\s*\n', '\n', o.data['text/html'])
            if not c.source.strip(): tags.add('remove_input')
            if not c.source.strip() and not c.outputs: continue
            c.metadata['tags'] = sorted(tags)
        cells.append(c)
    nb.cells = cells
    page = Path(fm.get('output-file') or proc_nb.with_suffix('.html').name).stem
    md_title = fm.get('title') or page
    title = re.sub(r'[`*]', '', md_title)  # plain text for the navigation and the window title
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled = True
    cfg.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    exp = MarkdownExporter(config=cfg)
    body, res = exp.from_notebook_node(nb, resources={'output_files_dir': f'{page}_files', 'unique_key': page})
    head = [f'# {md_title}', '']
    if fm.get('description'): head += [f'> {fm["description"]}', '']
    meta = f'---\ntitle: {json.dumps(title)}\n' + (f'description: {json.dumps(fm["description"])}\n' if fm.get('description') else '') + '---\n\n'
    info = {'notebook': Path(proc_nb).name, 'page': f'{page}.html', 'title': title, 'api': api}
    return page, title, meta + '\n'.join(head) + '\n' + body, res.get('outputs', {}), info

_re_fence = re.compile(r'^(```|~~~)')
_re_heading = re.compile(r'^(#{1,6})\s+(.*?)\s*(\{[^}]*\})?\s*#*\s*$')

def heading_ids(md):
    "The ids the toc extension gives the headings of `md` (outside code blocks)."
    ids, fenced, prev_blank = set(), False, True
    for line in md.splitlines():
        if _re_fence.match(line): fenced = not fenced
        elif not fenced and not line.startswith(('    ', '\t')) and (m := _re_heading.match(line)):
            if m.group(3) and (i := re.search(r'#([\w.-]+)', m.group(3))): ids.add(i.group(1)); continue
            text = re.sub(r'<[^>]+>', '', m.group(2))
            text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
            text = re.sub(r'\\(.)', r'\1', text).replace('`', '')
            ids.add(slugify(text))
    return ids

def fix_links(md, pages, ids, doc_root, warnings, page):
    "Point links at notebooks or at the published site to the local pages; drop anchors that don't exist."
    by_nb = {nb: pg for nb, pg in pages.items()}
    by_html = {pg + '.html': pg for pg in pages.values()}
    def fix(url):
        u = url
        if doc_root and u.startswith(doc_root): u = u[len(doc_root):].lstrip('/') or 'index.html'
        elif re.match(r'^[a-z][a-z0-9+.-]*:', u, re.I) or u.startswith(('#', '/')): return url
        path, _, frag = u.partition('#')
        name = Path(path).name
        if path.endswith('.ipynb'): target = by_nb.get(name)
        elif path.endswith('.html'): target = by_html.get(name)
        else: return url
        if target is None:
            warnings.append(f'{page}: link to a page that does not exist: {url}'); return url
        if frag and frag not in ids[target]:
            frag = slugify(frag) if slugify(frag) in ids[target] else ''
        return f'{target}.md' + (f'#{frag}' if frag else '')
    md = re.sub(r'\]\(\s*<?([^)\s>]+)>?((?:\s+"[^"]*")?\s*)\)', lambda m: f']({fix(m.group(1))}{m.group(2)})', md)
    return re.sub(r'(href=")([^"]+)(")', lambda m: m.group(1) + fix(m.group(2)).replace('.md', '.html') + m.group(3), md)

def convert(proc_nbs, cfg):
    "Write the markdown pages and images into build/docs/md; return the nav entries in course order."
    shutil.rmtree(md_dir, ignore_errors=True); md_dir.mkdir(parents=True)
    docs = {}
    for p in proc_nbs: docs[p.name] = to_markdown(p)
    pages = {nb: d[0] for nb, d in docs.items()}
    dup = {pg for pg in pages.values() if list(pages.values()).count(pg) > 1}
    if dup: sys.exit(f'docs build: two notebooks make the same page {dup}: rename one')
    ids = {d[0]: heading_ids(d[2]) for d in docs.values()}
    manifest = []
    doc_root = (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')).rstrip('/')
    warnings, nav = [], []
    for nb, (page, title, md, imgs, info) in docs.items():
        md = fix_links(md, pages, ids, doc_root, warnings, page)
        info['images'] = len(re.findall(r'!\[[^\]]*\]\(' + re.escape(page) + '_files/', md))
        manifest.append(info)
        (md_dir/f'{page}.md').write_text(md, encoding='utf-8')
        for fn, data in imgs.items():
            (md_dir/fn).parent.mkdir(parents=True, exist_ok=True)
            (md_dir/fn).write_bytes(data)
        nav.append({('Home' if page == 'index' else title): f'{page}.md'})
    shutil.copy(here/'extra.css', md_dir/'extra.css')
    # what the browser test expects of each page
    (build_dir/'pages.json').write_text(json.dumps(manifest, indent=1), encoding='utf-8')
    for w in warnings: print('  warning:', w)
    linked = set(re.findall(r'\]\(([\w-]+)\.md', (md_dir/'index.md').read_text(encoding='utf-8'))) if (md_dir/'index.md').exists() else set()
    unlisted = [nb for nb, pg in pages.items() if pg != 'index' and pg not in linked]
    if unlisted: print(f'  note: the home page (index.ipynb) does not link to: {", ".join(unlisted)}')
    return nav, warnings

# ---- 4. render with mkdocs ----
def render(nav, cfg, strict):
    "Write build/docs/mkdocs.yml and run mkdocs into _docs/."
    import yaml
    conf = {
        'site_name': cfg.get('title', 'minifast'),
        'site_description': cfg.get('description', ''),
        'repo_url': cfg.get('git_url', ''),
        'edit_uri': '',
        'docs_dir': 'md',
        'site_dir': os.path.relpath(site_dir, build_dir),
        'use_directory_urls': False,  # plain page.html files: the site works from file://
        'theme': {'name': 'material', 'font': False, 'features': ['toc.follow', 'navigation.top', 'navigation.footer'],
                  'palette': {'primary': 'indigo'}},
        'plugins': ['search', 'offline'],
        'extra_css': ['extra.css'],
        'markdown_extensions': [
            'tables', 'attr_list', 'md_in_html', 'admonition', 'footnotes',
            {'toc': {'permalink': True, 'slugify': '!!slugify'}},
            {'pymdownx.highlight': {'use_pygments': True}}, 'pymdownx.superfences',
            {'pymdownx.arithmatex': {'generic': True}}],
        'validation': {'omitted_files': 'warn', 'absolute_links': 'info',
                       'unrecognized_links': 'warn', 'anchors': 'warn'},
        'nav': nav,
    }
    text = yaml.safe_dump(conf, sort_keys=False, allow_unicode=True)
    text = text.replace("'!!slugify'", '!!python/name:docs_slug.slugify')
    cfg_file = build_dir/'mkdocs.yml'
    cfg_file.write_text(text, encoding='utf-8')
    env = dict(os.environ, NO_MKDOCS_2_WARNING='1', PYTHONPATH=os.pathsep.join([str(here)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    cmd = [sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(cfg_file)] + (['--strict'] if strict else [])
    r = subprocess.run(cmd, cwd=build_dir, env=env)
    if r.returncode: sys.exit('docs build: mkdocs failed (see its messages above)')

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--timeout', type=int, default=900, help='seconds one cell may run (default 900)')
    p.add_argument('--flags', default='', help="test flags whose cells also run, e.g. 'slow'")
    p.add_argument('--force', action='store_true', help='execute every notebook even when a current copy exists')
    p.add_argument('--no-exec', action='store_true', help='render the notebooks without running them (no outputs)')
    p.add_argument('--stale-ok', action='store_true',
                   help='reuse an executed copy of an unchanged notebook even when minifast/ has changed since')
    p.add_argument('--reuse-only', action='store_true',
                   help='run nothing: use the current executed copies, render the other notebooks without outputs')
    p.add_argument('--jobs', type=int, default=2, help='processes for the nbdev processing step')
    p.add_argument('--no-strict', action='store_true', help="don't fail on broken links")
    p.add_argument('--keep-going', action='store_true',
                   help="render a notebook nbdev can't process without its API entries, and fail at the end")
    p.add_argument('--strict-showdoc', action='store_true', help='fail when an exported name has no show_doc')
    a = p.parse_args()
    os.chdir(root)
    from nbdev.config import get_config
    cfg = get_config()
    t0 = time.time()
    nbs = notebooks()
    print(f'docs: {len(nbs)} notebooks', flush=True)
    srcs = blank(nbs) if a.no_exec else execute_all(nbs, a.timeout, a.flags, a.force, a.reuse_only, a.stale_ok)
    t1 = time.time()
    print(f'docs: processing with nbdev into {proc_dir.relative_to(root)}/', flush=True)
    procs, proc_errs = process(srcs, a.jobs, a.keep_going)
    t2 = time.time()
    print(f'docs: converting with nbconvert into {md_dir.relative_to(root)}/', flush=True)
    nav, warnings = convert(procs, cfg)
    print(f'docs: rendering with mkdocs into {site_dir.relative_to(root)}/', flush=True)
    render(nav, cfg, strict=not a.no_strict)
    t3 = time.time()
    missing, hidden = check_showdoc.missing_show_docs(), check_showdoc.hidden_show_docs()
    check_showdoc.report(missing, hidden)
    print(f'docs: built {site_dir.relative_to(root)}/index.html in {t3-t0:.0f}s '
          f'(execute {t1-t0:.0f}s, nbdev {t2-t1:.0f}s, convert and render {t3-t2:.0f}s)')
    if proc_errs: sys.exit(f'docs build: nbdev could not process {len(proc_errs)} notebooks (see above)')
    if warnings and not a.no_strict: sys.exit(f'docs build: {len(warnings)} broken links')
    if (missing or hidden) and a.strict_showdoc: sys.exit('docs build: exported names without show_doc')

if __name__ == '__main__': main()
