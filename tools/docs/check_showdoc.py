"""Check that every name in a minifast module's `__all__` has a `show_doc` in the notebook that defines it.

nbdev writes a `# %% ../nbs/NB.ipynb N` marker above each exported cell, so the notebook that
defines a name is the marker above its definition. A name is documented when a code cell of that
notebook calls `show_doc(Name` (or `show_doc(Name.method`). Prints the names that are not, and the
show_docs that are not the last line of their cell (a cell displays only its last value, so those
never appear in the docs); with `--strict` the exit status is 1 when there are any.

    python tools/docs/check_showdoc.py [--strict]
"""
import argparse, ast, json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
_re_marker = re.compile(r'^# %% (\S+\.ipynb)')

def _defined(node):
    "Names a top-level statement binds."
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []

def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def _show_doc_sources(nb_path):
    "The code of `nb_path`'s cells that call show_doc."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    return '\n'.join(_src(c) for c in nb['cells'] if c['cell_type'] == 'code' and 'show_doc' in _src(c))

_re_sd = re.compile(r'^show_doc\(\s*([\w.]+)', re.M)

def hidden_show_docs(nbs_path=None):
    "[(notebook, [names])]: show_docs that are not the last line of their cell, so never displayed."
    res = []
    for nb_path in sorted(Path(nbs_path or root/'nbs').glob('*.ipynb')):
        nb = json.loads(nb_path.read_text(encoding='utf-8'))
        for c in nb['cells']:
            if c['cell_type'] != 'code': continue
            names = _re_sd.findall(_src(c))
            if len(names) > 1: res.append((nb_path.name, names[:-1]))
    return res

def missing_show_docs(lib=None):
    "[(module, name, notebook)] for each exported name without a show_doc in its notebook."
    lib = Path(lib or root/'minifast')
    res = []
    for py in sorted(lib.glob('*.py')):
        if py.name.startswith('_'): continue
        text = py.read_text(encoding='utf-8')
        tree = ast.parse(text)
        names = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, 'id', None) == '__all__' for t in n.targets)), [])
        lines = text.splitlines()
        where, kind = {}, {}
        for node in tree.body:
            marker = next((m.group(1) for l in reversed(lines[:node.lineno - 1]) if (m := _re_marker.match(l))), None)
            for nm in _defined(node):
                where.setdefault(nm, marker)
                kind.setdefault(nm, 'constant' if isinstance(node, (ast.Assign, ast.AnnAssign)) else 'def')
        docs = {}
        for nm in names:
            marker = where.get(nm)
            nb = (py.parent/marker).resolve() if marker else None
            if nb is None or not nb.exists():
                res.append((py.stem, nm, '?', kind.get(nm, '?'))); continue
            if nb not in docs: docs[nb] = _show_doc_sources(nb)
            if not re.search(rf'show_doc\(\s*{re.escape(nm)}\b', docs[nb]): res.append((py.stem, nm, nb.name, kind[nm]))
    return res

def report(missing, hidden=None):
    "Print `missing` grouped by notebook (functions and classes, then constants), and `hidden`."
    if not missing: print('show_doc check: every exported name has a show_doc')
    else:
        print(f'show_doc check: {len(missing)} exported names have no show_doc in their notebook:')
        by_nb = {}
        for mod, nm, nb, k in missing: by_nb.setdefault((nb, mod), {}).setdefault(k, []).append(nm)
        for (nb, mod), ks in sorted(by_nb.items()):
            print(f'  {nb} (minifast.{mod}): ' + '; '.join(
                (f'constants: ' if k == 'constant' else '') + ', '.join(nms) for k, nms in sorted(ks.items())))
    for nb, nms in hidden or []:
        print(f'  {nb}: only the last show_doc of a cell is displayed, so these never show: {", ".join(nms)} '
              '(one show_doc per cell)')

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--strict', action='store_true', help='exit 1 when a name has no show_doc')
    a = p.parse_args()
    missing, hidden = missing_show_docs(), hidden_show_docs()
    report(missing, hidden)
    sys.exit(1 if (missing or hidden) and a.strict else 0)

if __name__ == '__main__': main()
