"""Run one notebook exactly as `nbdev_test` does, and optionally save it with its outputs.

The cells run in nbdev's own `CaptureShell` with nbdev_test's rules: cells flagged with a
`tst_flags` flag from settings.ini (`#| slow`, `#| cuda`) are skipped unless passed in `--flags`,
so are `#| eval: false` cells and the final `nbdev_export()` cell; the first error stops the run.
With `--out`, the notebook is written there with the outputs of the cells that ran (plots
included), for the docs build (tools/docs/build.py) to render without executing it again.
The saved copy records the sha256 of the notebook and of minifast/*.py, so a stale copy is never reused.

    python tools/docs/execute.py nbs/04_callbacks.ipynb --out .cache/executed/04_callbacks.ipynb
"""
import argparse, hashlib, json, os, sys, time
from pathlib import Path

def src_hash(path):
    "sha256 of a notebook's bytes: the key that says whether a saved execution is still current."
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

def lib_hash(lib=None):
    "sha256 of minifast/*.py: an executed notebook is stale once the package it imports changes."
    lib = Path(lib or Path(__file__).resolve().parents[2]/'minifast')
    h = hashlib.sha256()
    # _modidx.py (nbdev's index of doc links) changes with every export and changes no behaviour
    for p in sorted(lib.glob('*.py')):
        if p.name != '_modidx.py': h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()

def saved_is_current(src, saved, lib=None, any_lib=False):
    "Is `saved` an execution of the notebook `src` as it is now, with minifast/ as it is now (or any, with `any_lib`)?"
    saved = Path(saved)
    if not saved.exists(): return False
    try: meta = json.loads(saved.read_text(encoding='utf-8'))['metadata'].get('minifast_executed', {})
    except (ValueError, KeyError): return False
    return meta.get('source_sha256') == src_hash(src) and (any_lib or meta.get('lib_sha256') == (lib or lib_hash()))

def execute(fn, flags='', out=None, timeout=None):
    "Run notebook `fn` like nbdev_test; write it with outputs to `out` when it passes. Returns (ok, secs)."
    from fastcore.basics import str2bool
    from fastcore.foundation import L
    from fastcore.xtras import working_directory
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import NBProcessor, nb_lang
    from nbdev.frontmatter import FrontmatterProc
    fn = Path(fn).resolve()
    cfg = get_config()
    sys.path.insert(0, str(cfg.config_path))
    os.environ['IN_TEST'] = '1'
    skip = set(cfg.tst_flags.split()) - set(L(flags.split()))
    raw = read_nb(fn)
    nb = read_nb(fn)
    # nbdev's processing strips directives and moves the title into frontmatter: remember where
    # each cell came from so the outputs can be put back into the untouched notebook.
    for i, c in enumerate(nb.cells): c['orig_idx_'] = i
    nb = NBProcessor(nb=nb, procs=FrontmatterProc, process=True).nb
    fm = getattr(nb, 'frontmatter_', {})
    lib = lib_hash(cfg.lib_path)
    start = time.time()
    ok = True
    if not (str2bool(fm.get('skip_exec', False)) or nb_lang(nb) != 'python'):
        def _no_eval(cell):
            if cell.cell_type != 'code': return True
            if 'nbdev_export' + '(' in cell.source: return True
            direc = getattr(cell, 'directives_', {}) or {}
            if direc.get('eval:', [''])[0].lower() == 'false': return True
            return skip & direc.keys()
        k = CaptureShell(fn, timeout=timeout)
        try:
            with working_directory(fn.parent): k.run_all(nb, exc_stop=True, preproc=_no_eval)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt): raise
            msg = k.prettytb(fname=fn) if k.exc else repr(e)
            if isinstance(e, TimeoutError): msg = f'a cell ran longer than {timeout}s\n' + msg
            sys.stderr.write(msg + '\n')
            ok = False
    secs = time.time() - start
    if ok and out:
        for c in nb.cells:
            i = c.get('orig_idx_')
            if i is None or raw.cells[i].cell_type != 'code': continue
            raw.cells[i]['outputs'] = c.get('outputs', [])
        raw.metadata['minifast_executed'] = {'source_sha256': src_hash(fn), 'lib_sha256': lib, 'flags': flags, 'seconds': round(secs, 1)}
        out = Path(out); out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + '.tmp')
        write_nb(raw, tmp)
        tmp.replace(out)
    return ok, secs

def _no_showdoc_exec():
    "nbdev's docs processors less exec_show_docs (`build.py --keep-going`: a page without API entries)."
    from nbdev.processors import FilterDefaults, exec_show_docs
    class NoExec(FilterDefaults):
        def base_procs(self): return [o for o in super().base_procs() if o is not exec_show_docs]
    return NoExec()

def proc_nb(item):
    "nbdev's docs processing (nbdev_proc_nbs) of one notebook: (src, dst, procs); the error as text, if any."
    import nbdev.serve_drv, warnings
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        try: nbdev.serve_drv.main(item)
        except Exception as e: return f'{Path(item[0]).name}: {e}'
    # nbdev runs every cell that imports while rendering the API docs: say which cells also do other work
    for w in ws:
        m = str(w.message)
        if 'imports and other code' in m:
            first = next((l for l in m.split('---')[1].strip().splitlines() if l.strip()), '')
            print(f'  note: {Path(item[0]).name}: a cell imports and also runs code, so nbdev runs it while '
                  f'rendering the docs (split the imports into their own cell): {first[:60]!r}', flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('notebook')
    p.add_argument('--flags', default='', help="test flags to run that are normally skipped, e.g. 'slow'")
    p.add_argument('--out', help='write the executed notebook here (only when it passes)')
    p.add_argument('--timeout', type=int, default=None, help='seconds one cell may run before it fails')
    a = p.parse_args()
    ok, secs = execute(a.notebook, a.flags, a.out, a.timeout)
    print(f"{'passed' if ok else 'FAILED'}: {a.notebook} in {secs:.0f}s")
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
