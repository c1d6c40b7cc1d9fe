"""Run minifast's test suite: every notebook in nbs/ (through nbdev_test) and any tests/test_*.py.

Each notebook runs in its own process, one at a time: the notebooks train models, and two
trainings sharing CI's two cores would only slow each other down. The last line printed is
`N passed, N failed`; the exit status is non-zero when anything failed.
"""
import argparse, subprocess, sys, time
from pathlib import Path

root = Path(__file__).resolve().parent.parent
venv_bin = Path(sys.executable).parent

def run(cmd, name, log_dir):
    "Run `cmd`, keep its output in `log_dir`, and return (passed, seconds)."
    start = time.time()
    log = log_dir/(name.replace('/', '_') + '.log')
    with open(log, 'w') as f: rc = subprocess.call(cmd, cwd=root, stdout=f, stderr=subprocess.STDOUT)
    secs = time.time() - start
    ok = rc == 0
    print(f"{'PASS' if ok else 'FAIL'} {name} ({secs:.0f}s)", flush=True)
    if not ok: print(log.read_text()[-6000:], flush=True)
    return ok, secs

def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--flags', default='', help="nbdev test flags to run, e.g. 'slow' or 'cuda'")
    p.add_argument('paths', nargs='*', help='notebooks or test files (default: all)')
    args = p.parse_args()
    log_dir = root/'.cache'/'test-logs'; log_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(o).resolve() for o in args.paths] or (
        sorted((root/'nbs').glob('*.ipynb')) + sorted((root/'tests').glob('test_*.py')))
    results = []
    for path in paths:
        name = str(path.relative_to(root))
        if path.suffix == '.ipynb':
            cmd = [str(venv_bin/'nbdev_test'), '--path', str(path), '--flags', args.flags]
        else:
            cmd = [sys.executable, '-m', 'pytest', '-q', str(path)]
        results.append(run(cmd, name, log_dir))
    passed = sum(ok for ok, _ in results)
    failed = len(results) - passed
    print(f"total {sum(s for _, s in results):.0f}s")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)

if __name__ == '__main__': main()
