"""Run every benchmark script bench/*.py (not the `_`-prefixed helpers) and write bench/RESULTS.md.

`make bench` runs this with the python of the benchmark venv (.cache/bench-fastai-venv: torch, spaCy, fastai and
minifast itself), so each script times minifast and its references (fastai, plain PyTorch, plain spaCy) in one process.
Each script prints its own report and appends rows to the file named by $MINIFAST_BENCH_JSON (see _common.record);
this driver gathers the rows into a table, says where minifast loses and by how much, and keeps every script's output.

    python bench/_run_all.py [script.py ...] [--out bench/RESULTS.md]
"""
import argparse, datetime, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import _common as C

BENCH = Path(__file__).resolve().parent


def loadavg():
    try: return Path('/proc/loadavg').read_text().split()[0]
    except OSError: return '?'


def run(script, json_path):
    "Run one script, echoing its output; returns (exit code, seconds, output)."
    env = {**os.environ, 'MINIFAST_BENCH_JSON': str(json_path), 'PYTHONUNBUFFERED': '1'}
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, str(script)], cwd=C.REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    out = []
    for line in p.stdout:
        sys.stdout.write(line); sys.stdout.flush()
        out.append(line)
    rc = p.wait()
    return rc, time.perf_counter() - t, ''.join(out)


# references that do less work than minifast (see the scripts' docstrings): losing to them is expected
_LESS_WORK = {'bare': 'the bare loop computes no training statistics', 'plain spaCy': 'plain spaCy applies no rules'}

def _pct(r): return f"{(r - 1) * 100:.1f}%" if r < 1.1 else f"{(r - 1) * 100:.0f}%"

def losses(row):
    "Where this row shows minifast behind a reference, in words."
    res = []
    for label, v in row['ratios'].items():
        if not label.startswith('minifast'): continue   # e.g. fastai/plain, given for context
        why = next((f" ({w})" for k, w in _LESS_WORK.items() if k in label), '')
        n = len(res)
        if '(points)' in label:
            if v < 0: res.append(f"{label.split(' (')[0]}: {-v:.2f} points less accurate")
        elif '(speed)' in label:
            if v < 1: res.append(f"{label.split(' (')[0]}: {_pct(1 / v)} slower (speed ratio {v:.3f})")
        elif v > 1: res.append(f"{label}: {_pct(v)} slower (time ratio {v:.3f})")
        if len(res) > n: res[-1] += why
    return res


def cell(s): return str(s).replace('|', '\\|').replace('\n', ' ')


def write_results(path, rows, runs, started, total, load0, load1, mach):
    verdict = {True: '**pass**', False: '**FAIL**', None: '-'}
    import spacy
    lines = [
        '# minifast benchmarks', '',
        f"Written by `make bench` (bench/_run_all.py) on {started:%Y-%m-%d %H:%M} UTC; all scripts took {total / 60:.1f} min. "
        'Do not edit by hand: run `make bench` again.', '',
        f"Machine: {mach['cpu']}, {mach['cores']} cores; Python {mach['python']}, torch {mach['torch']}, "
        f"fastai {mach['fastai'] or 'not installed'}, spaCy {spacy.__version__}. "
        f"Load average (1 min) {load0} at the start, {load1} at the end: on a shared machine the times are noisy, "
        'which is why every script alternates the sides in one process and reports medians.', '',
        'Ratios are minifast / reference for times (below 1: minifast faster), reference-relative speed for rows '
        'marked "(speed)" (above 1: minifast faster), and differences in points for accuracy.', '',
        '| Benchmark | Compared | Workload | minifast | Reference(s) | Ratio(s) | Target | Result |',
        '|---|---|---|---|---|---|---|---|']
    for r in rows:
        refs = '<br>'.join(f"{k}: {v}" for k, v in r['references'].items())
        ratios = '<br>'.join(f"{k}: {v:+.2f}" if '(points)' in k else f"{k}: {v:.3f}" for k, v in r['ratios'].items())
        lines.append('| ' + ' | '.join(cell(x) for x in [r['benchmark'], r['compared'], r['workload'], r['minifast'], refs,
                                                          ratios, r['target'], verdict[r['passed']]]) + ' |')
    lines += ['', '## Where minifast loses', '',
              'Every ratio in the table where minifast is behind, whatever the size: differences of a few percent are '
              'within the noise of a loaded machine (see the load average above), so judge them across runs.', '']
    lost = [(r, l) for r in rows for l in losses(r)]
    fails = [r for r in rows if r['passed'] is False]
    for r in fails: lines.append(f"- **Target missed** — {r['benchmark']}: " + ', '.join(f"{k} {v:.3f}" for k, v in r['ratios'].items()) + f" (target: {r['target']}).")
    for r, l in lost: lines.append(f"- {r['benchmark']} — {l}.")
    if not fails and not lost: lines.append('Nowhere in this run.')
    lines += ['', '## Notes on each row', '']
    lines += [f"- {r['benchmark']} (`bench/{r['script']}`): {r['note']}" for r in rows if r['note']]
    lines += ['', '## Scripts', '', '| Script | Exit code | Minutes | Rows |', '|---|---|---|---|']
    for name, (rc, secs, _) in runs.items():
        lines.append(f"| `bench/{name}` | {rc} | {secs / 60:.1f} | {sum(r['script'] == name for r in rows)} |")
    lines += ['', 'Each script\'s full output (the scripts\' docstrings say exactly what each side does):', '']
    for name, (rc, secs, out) in runs.items():
        lines += [f"<details><summary>bench/{name}</summary>", '', '```', out.rstrip(), '```', '', '</details>', '']
    Path(path).write_text('\n'.join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('scripts', nargs='*', help='scripts to run (default: every bench/*.py not starting with _)')
    ap.add_argument('--out', default=str(BENCH / 'RESULTS.md'))
    a = ap.parse_args()
    scripts = [Path(s).resolve() for s in a.scripts] or sorted(p for p in BENCH.glob('*.py') if not p.name.startswith('_'))
    mach = C.machine()
    if not mach['fastai']:
        print("note: fastai is not importable with this python; the fastai columns will be missing (run `make bench`)")
    started, load0, t0 = datetime.datetime.now(datetime.timezone.utc), loadavg(), time.perf_counter()
    runs, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for s in scripts:
            print(f"== bench/{s.name}", flush=True)
            j = Path(tmp) / (s.stem + '.jsonl')
            runs[s.name] = run(s, j)
            if j.exists(): rows += [json.loads(l) for l in j.read_text().splitlines() if l.strip()]
            print(f"== bench/{s.name}: exit code {runs[s.name][0]}, {runs[s.name][1]:.0f} s", flush=True)
    total = time.perf_counter() - t0
    write_results(a.out, rows, runs, started, total, load0, loadavg(), mach)
    print(f"wrote {a.out} ({len(rows)} rows from {len(runs)} scripts, {total / 60:.1f} min)")
    failed = [n for n, (rc, _, _) in runs.items() if rc != 0]
    if failed:
        print(f"these scripts failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == '__main__': main()
