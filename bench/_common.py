"""Helpers shared by the benchmark scripts: timing that alternates the sides, the machine's description,
the optional fastai peer, and the records that `bench/_run_all.py` gathers into bench/RESULTS.md.

Not a benchmark itself (the leading underscore keeps `_run_all.py` from running it).
"""
import json, os, platform, statistics, sys, time
from pathlib import Path
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))   # run from a checkout without installing minifast


def cpu_model():
    "The CPU's model name as the kernel reports it."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def fastai_or_none():
    "fastai's version if it can be imported here (it lives in the benchmark venv made by `make bench`), else None."
    try:
        import fastai
        return fastai.__version__
    except ImportError: return None


def machine():
    "What the numbers were measured on."
    return dict(cpu=cpu_model(), cores=os.cpu_count(), torch=torch.__version__, python=platform.python_version(),
                fastai=fastai_or_none(), threads=torch.get_num_threads())


def alternate(runs, reps, warmup=1, clock='cpu'):
    """Time each callable of `runs` (name -> f) `reps` times, alternating the sides in one process, after `warmup`
    calls of each. The order rotates each repeat so no side always runs first. Returns name -> list of
    (cpu seconds, wall seconds)."""
    names = list(runs)
    for _ in range(warmup):
        for k in names: runs[k]()
    res = {k: [] for k in names}
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]:
            c, w = time.process_time(), time.perf_counter()
            runs[k]()
            res[k].append((time.process_time() - c, time.perf_counter() - w))
    return res


def med(times, which=0):
    "Median of the CPU (`which=0`) or wall (`which=1`) times of one side."
    return statistics.median(t[which] for t in times)


def paired_ratio(a, b, which=0):
    "Median over repeats of a/b, each pair timed back to back (less exposed to slow drifts in machine load)."
    return statistics.median(x[which] / y[which] for x, y in zip(a, b))


def record(benchmark, compared, workload, minifast, references, ratios, target, passed, note=''):
    """Append one row for bench/RESULTS.md to the file named by $MINIFAST_BENCH_JSON (if set).

    `minifast` is a figure as text, `references` a dict name -> figure as text, `ratios` a dict label -> float,
    `target` the rule as text, `passed` True/False (or None where there is no target)."""
    row = dict(benchmark=benchmark, compared=compared, workload=workload, minifast=minifast, references=references,
               ratios=ratios, target=target, passed=passed, note=note, script=Path(sys.argv[0]).name)
    out = os.environ.get('MINIFAST_BENCH_JSON')
    if out:
        with open(out, 'a') as f: f.write(json.dumps(row) + '\n')
    verdict = {True: 'PASS', False: 'FAIL', None: '-'}[passed]
    print(f"[{verdict}] {benchmark}: " + ', '.join(f'{k} {v:.3f}' for k, v in ratios.items()) + f"  (target: {target})")


def small_cnn():
    "The CNN of the learner benchmarks: four stride-2 convolutions on 28x28 inputs given as flat 784-vectors."
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 8, 5, padding=2, stride=2), nn.ReLU(),    # 14
        nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(),   # 7
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),  # 4
        nn.Conv2d(32, 32, 3, padding=1, stride=2), nn.ReLU(),  # 2
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


class TensorBatches:
    """Batches of `bs` rows of tensors `x`, `y`, shuffled with torch's global RNG if `shuffle`: plain PyTorch
    (one fancy-indexing call per batch), handed to every side so they all see the same data in the same order."""
    def __init__(self, x, y, bs, shuffle):
        self.x, self.y, self.bs, self.shuffle = x, y, bs, shuffle
    def __len__(self): return -(-len(self.x) // self.bs)
    def __iter__(self):
        n = len(self.x)
        idx = torch.randperm(n) if self.shuffle else torch.arange(n)
        for i in range(0, n, self.bs):
            j = idx[i:i + self.bs]
            yield self.x[j], self.y[j]


def hand_written_epoch(model, opt, train_dl, valid_dl, loss_func, train_stats=True):
    "The plain-PyTorch reference: one epoch written out by hand; with `train_stats` it computes what AvgStatsCallback computes. Returns ([train loss, acc] or None, [valid loss, acc])."
    model.train()
    tl, ta, tn = 0., 0., 0
    for xb, yb in train_dl:
        pred = model(xb)
        loss = loss_func(pred, yb)
        if train_stats:
            with torch.no_grad():
                bn = len(yb); tn += bn
                tl = tl + loss.detach() * bn
                ta = ta + (pred.argmax(1) == yb).float().mean() * bn
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    vl, va, vn = 0., 0., 0
    with torch.no_grad():
        for xb, yb in valid_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)
            bn = len(yb); vn += bn
            vl = vl + loss * bn
            va = va + (pred.argmax(1) == yb).float().mean() * bn
    train = [float(tl) / tn, float(ta) / tn] if train_stats else None
    return train, [float(vl) / vn, float(va) / vn]
