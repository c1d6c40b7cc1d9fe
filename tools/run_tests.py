"""Run minifast's test suite: every notebook in nbs/, any tests/test_*.py, then the docs site.

Each notebook runs in its own process, one at a time: the notebooks train models, and two
trainings sharing CI's two cores would only slow each other down. A notebook runs exactly as
`nbdev_test` runs it (tools/docs/execute.py: nbdev's CaptureShell, `#| slow` and `#| cuda` cells
skipped unless in --flags), and its executed copy is kept in .cache/executed/ so that the docs
build renders its outputs and plots without running it a second time.

A full run (no paths given) then builds the docs site (tools/docs/build.py, into _docs/) and
checks it in headless Chromium (tools/docs/browser_test.py), which is skipped with a message
when Chromium is not installed. `--no-docs` leaves both out.

The last line printed is `N passed, N failed` (`, N skipped` after it when something was
skipped); the exit status is non-zero when anything failed.
"""
import argparse, subprocess, sys, time
from pathlib import Path

root = Path(__file__).resolve().parent.parent
venv_bin = Path(sys.executable).parent
SKIPPED = 3  # exit status of a test that could not run here (browser_test.py without Chromium)

def run(cmd, name, log_dir):
    "Run `cmd`, keep its output in `log_dir`, and return ('pass'|'fail'|'skip', seconds)."
    start = time.time()
    log = log_dir/(name.replace('/', '_') + '.log')
    with open(log, 'w') as f: rc = subprocess.call(cmd, cwd=root, stdout=f, stderr=subprocess.STDOUT)
    secs = time.time() - start
    res = 'skip' if rc == SKIPPED else 'pass' if rc == 0 else 'fail'
    print(f"{res.upper()} {name} ({secs:.0f}s)", flush=True)
    if res == 'fail': print(log.read_text()[-6000:], flush=True)
    if res == 'skip': print('  ' + log.read_text().strip().splitlines()[-1], flush=True)
    return res, secs

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--flags', default='', help="nbdev test flags to run, e.g. 'slow' or 'cuda'")
    p.add_argument('--no-docs', action='store_true', help="don't build the docs site nor run the browser test")
    p.add_argument('--nbdev-test', action='store_true', help='run the notebooks with nbdev_test itself (keeps no outputs)')
    p.add_argument('paths', nargs='*', help='notebooks or test files (default: all, then the docs)')
    args = p.parse_args()
    log_dir = root/'.cache'/'test-logs'; log_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(o).resolve() for o in args.paths] or (
        sorted((root/'nbs').glob('*.ipynb')) + sorted((root/'tests').glob('test_*.py')))
    results = []
    for path in paths:
        name = str(path.relative_to(root))
        if path.suffix == '.ipynb' and args.nbdev_test:
            cmd = [str(venv_bin/'nbdev_test'), '--path', str(path), '--flags', args.flags]
        elif path.suffix == '.ipynb':
            cmd = [sys.executable, str(root/'tools'/'docs'/'execute.py'), str(path), '--flags', args.flags,
                   '--out', str(root/'.cache'/'executed'/path.name)]
        else:
            cmd = [sys.executable, '-m', 'pytest', '-q', str(path)]
        results.append(run(cmd, name, log_dir))
    if not args.paths and not args.no_docs:
        if any(r == 'fail' for r, _ in results):
            print('SKIP docs build and browser test: a notebook failed', flush=True)
            results += [('skip', 0), ('skip', 0)]
        else:
            docs = run([sys.executable, str(root/'tools'/'docs'/'build.py'), '--flags', args.flags], 'docs build', log_dir)
            if docs[0] == 'pass':  # (a failure has printed its log already)
                for l in (log_dir/'docs build.log').read_text().splitlines():
                    if l.startswith(('docs:', 'show_doc check', '  note', '  warning')) or '.ipynb (minifast.' in l or 'only the last show_doc' in l:
                        print('  ' + l)
            results.append(docs)
            if docs[0] == 'pass':
                bt = run([sys.executable, str(root/'tools'/'docs'/'browser_test.py'), '--all'], 'docs browser test', log_dir)
                results.append(bt)
                if bt[0] == 'pass': print('  ' + (log_dir/'docs browser test.log').read_text().strip().splitlines()[-1], flush=True)
            else: results.append(('skip', 0))
    passed = sum(r == 'pass' for r, _ in results)
    failed = sum(r == 'fail' for r, _ in results)
    skipped = sum(r == 'skip' for r, _ in results)
    print(f"total {sum(s for _, s in results):.0f}s")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ''))
    sys.exit(1 if failed or not passed else 0)

if __name__ == '__main__': main()
