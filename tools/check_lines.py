"""List the lines of the package longer than the style limit (120 characters): `make check-lines`.

Prints `file:line:length` for each such line in minifast/*.py (or the files given), then a count per file,
and exits 1 when there is any. What nbdev writes itself is left out, since no notebook edit can shorten it:
minifast/_modidx.py, and the `__all__ = [...]` list at the top of each module (nbdev wraps it at 120
characters after `__all__ = `, or not at all when a second notebook exports into the module);
`--with-all` counts those lists too. The module docstring on line 1 is counted: it is the notebook's
`> summary` line. The notebooks are the source of minifast/, so fix a long line in the notebook that
exports it, then run `make export`.

    python tools/check_lines.py [--max 120] [--with-all] [files ...]
"""
import argparse, ast, sys
from collections import Counter
from pathlib import Path

root = Path(__file__).resolve().parent.parent
GENERATED = {'_modidx.py'}

def all_lines(text):
    "Line numbers of the module-level `__all__ = ...` assignments in `text` (nbdev writes them)."
    try: tree = ast.parse(text)
    except SyntaxError: return set()
    return {i for node in tree.body if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets)
            for i in range(node.lineno, node.end_lineno + 1)}

def long_lines(files, limit, with_all=False):
    "(file, line number, length) of every line of `files` longer than `limit` characters."
    for f in files:
        try: text = f.read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as e: sys.exit(f'check_lines: cannot read {f}: {e}')
        skip = set() if with_all else all_lines(text)
        for i, line in enumerate(text.splitlines(), 1):
            if len(line) > limit and i not in skip: yield f, i, len(line)

def _name(f):
    try: return f.resolve().relative_to(root).as_posix()
    except ValueError: return str(f)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--max', type=int, default=120, metavar='N', help='longest line allowed (default 120)')
    p.add_argument('--with-all', action='store_true', help="also count the `__all__` lists that nbdev writes")
    p.add_argument('files', nargs='*', type=Path, help='files to check (default: minifast/*.py but _modidx.py)')
    a = p.parse_args()
    if a.max < 1: p.error(f'--max must be a positive number of characters, not {a.max}')
    files = a.files or sorted(f for f in (root/'minifast').glob('*.py') if f.name not in GENERATED)
    if missing := [str(f) for f in files if not f.is_file()]:
        sys.exit(f'check_lines: no such file: {", ".join(missing)}')
    found = list(long_lines(files, a.max, a.with_all))
    for f, i, n in found: print(f'{_name(f)}:{i}:{n}')
    if not found:
        print(f'no line longer than {a.max} characters in {len(files)} files'); return
    per_file = Counter(_name(f) for f, _, _ in found)
    for name, n in sorted(per_file.items()): print(f'  {n:4d}  {name}')
    hint = '' if a.files else ': shorten them in the notebooks that export them, then run `make export`'
    sys.exit(f'{len(found)} lines longer than {a.max} characters in {len(per_file)} files{hint}')

if __name__ == '__main__': main()
