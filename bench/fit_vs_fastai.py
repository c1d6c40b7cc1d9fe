"""Fit time per epoch on Fashion-MNIST: minifast's Learner vs fastai's Learner vs a plain PyTorch loop.

All three train the same CNN (bench/_common.small_cnn) from the same initial weights, with the same loss
(torch's F.cross_entropy), the same optimizer (torch.optim.SGD, lr 0.05, momentum 0.9: one torch optimizer for
all three, so the comparison measures the training loops and not the optimizers, which bench/optimizer.py
compares), on the same batches in the same order (bench/_common.TensorBatches, plain tensor indexing, seeded
identically), for one epoch of training and one pass of validation. Each side keeps its usual statistics:
- minifast: `Learner` + `AvgStatsCallback(accuracy)` (train and valid loss and accuracy), no progress bar;
- fastai: `Learner(metrics=accuracy)` with its default callbacks (TrainEvalCallback, Recorder: train loss,
  smoothed loss, valid loss and accuracy, learning rates), with fastai's OptimWrapper around torch's SGD,
  progress bar and logging off;
- plain: a hand-written loop accumulating train and valid loss and accuracy as tensors, as AvgStatsCallback does.
The three must end with the same validation loss (same arithmetic), which the script checks.

Runs alternate (order rotated every repeat) in one process after a warm-up, with one torch thread (the steadiest
setting on a shared machine); ratios use the median CPU time of the process (wall times are printed too).
Targets: minifast / plain <= 1.05, minifast / fastai < 1.

    python bench/fit_vs_fastai.py [--reps 15] [--n-train 4000] [--n-valid 1000] [--bs 64] [--threads 1]
"""
import argparse, copy
import _common as C
import torch
import torch.nn.functional as F
from minifast.datasets import fashion_mnist
from minifast.learner import Learner, AvgStatsCallback
from minifast.data import DataBunch
from minifast.losses import accuracy


def plain_epoch(model, opt, train_dl, valid_dl):
    "The plain loop's epoch: validation [loss, accuracy]."
    return C.hand_written_epoch(model, opt, train_dl, valid_dl, F.cross_entropy)[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=15)
    p.add_argument('--n-train', type=int, default=4_000)
    p.add_argument('--n-valid', type=int, default=1_000)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    xt, yt, xv, yv, _ = fashion_mnist(show_progress=False)
    xt, yt, xv, yv = xt[:a.n_train], yt[:a.n_train], xv[:a.n_valid], yv[:a.n_valid]
    m, s = xt.mean(), xt.std()
    xt, xv = (xt - m) / s, (xv - m) / s
    train_dl, valid_dl = C.TensorBatches(xt, yt, a.bs, True), C.TensorBatches(xv, yv, 2 * a.bs, False)

    torch.manual_seed(0)
    model = C.small_cnn()
    init = copy.deepcopy(model.state_dict())
    sgd = lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)
    lr = 0.05

    mf = Learner(model, DataBunch(train_dl, valid_dl), F.cross_entropy, opt_func=sgd, lr=lr,
                 cbs=AvgStatsCallback(accuracy, verbose=False))
    def run_minifast():
        model.load_state_dict(init); torch.manual_seed(1)
        mf.fit(1, reset_opt=True)
        return mf.avg_stats.valid_stats.avg_stats[0]

    def run_plain():
        model.load_state_dict(init); torch.manual_seed(1)
        return plain_epoch(model, sgd(model.parameters(), lr), train_dl, valid_dl)[0]

    runs = {'minifast': run_minifast, 'plain': run_plain}
    fa_version = C.fastai_or_none()
    if fa_version:
        from functools import partial
        from fastai.data.core import DataLoaders
        from fastai.learner import Learner as FLearner
        from fastai.optimizer import OptimWrapper
        from fastai.metrics import accuracy as fa_accuracy
        fa = FLearner(DataLoaders(train_dl, valid_dl), model, loss_func=F.cross_entropy,
                      opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9), lr=lr, metrics=fa_accuracy)
        # fastai.callback.progress is never imported, so fastai has no progress bar, as minifast here
        assert not any('Progress' in type(cb).__name__ for cb in fa.cbs), fa.cbs
        def run_fastai():
            model.load_state_dict(init); torch.manual_seed(1)
            fa.opt = None   # a new optimizer, as the other two sides get
            with fa.no_logging(): fa.fit(1)
            return float(fa.recorder.values[-1][1])   # [train loss, valid loss, accuracy]
        runs['fastai'] = run_fastai
    else:
        print("fastai is not importable here: run through `make bench`, which makes its venv; timing minifast vs plain only")

    # Same start, same batches, same optimizer: the sides must end with the same validation loss.
    losses = {k: f() for k, f in runs.items()}
    for k, v in losses.items():
        assert abs(v - losses['plain']) <= 1e-4 * max(1., abs(v)), f"{k} ends with valid loss {v}, plain with {losses['plain']}"

    times = C.alternate(runs, a.reps, warmup=1)
    cpu = {k: C.med(v) for k, v in times.items()}
    wall = {k: C.med(v, 1) for k, v in times.items()}
    lo = {k: min(t[0] for t in v) for k, v in times.items()}
    nb = f"{len(train_dl)}+{len(valid_dl)}"
    print(f"Fashion-MNIST {a.n_train} train / {a.n_valid} valid, bs {a.bs}, {nb} batches/epoch, {a.reps} reps, "
          f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, fastai {fa_version}")
    for k in runs:
        print(f"  {k:9s} median CPU {cpu[k]*1e3:8.1f} ms/epoch  wall {wall[k]*1e3:8.1f} ms   "
              f"(CPU, all: {', '.join(f'{t[0]*1e3:.0f}' for t in times[k])})")
    print(f"  valid loss after the epoch: " + ', '.join(f'{k} {v:.5f}' for k, v in losses.items()))
    r_plain = cpu['minifast'] / cpu['plain']
    ratios = {'minifast/plain': r_plain}
    refs = {'plain': f"{cpu['plain']*1e3:.0f} ms"}
    print(f"  minifast / plain: {r_plain:.3f} (paired {C.paired_ratio(times['minifast'], times['plain']):.3f}; wall {wall['minifast']/wall['plain']:.3f})")
    passed = r_plain <= 1.05
    if fa_version:
        r_fa = cpu['minifast'] / cpu['fastai']
        ratios['minifast/fastai'] = r_fa
        refs['fastai'] = f"{cpu['fastai']*1e3:.0f} ms"
        ratios['fastai/plain'] = cpu['fastai'] / cpu['plain']
        print(f"  minifast / fastai: {r_fa:.3f} (paired {C.paired_ratio(times['minifast'], times['fastai']):.3f}; wall {wall['minifast']/wall['fastai']:.3f})")
        passed = passed and r_fa < 1
    iso = report_dispatch(fa_version)
    C.record('Learner fit, one epoch', 'minifast Learner vs fastai Learner vs plain PyTorch loop (same torch SGD)',
             f"Fashion-MNIST {a.n_train}+{a.n_valid} images, 4-conv CNN, bs {a.bs}, {nb} batches, CPU, 1 thread",
             f"{cpu['minifast']*1e3:.0f} ms", refs, ratios,
             'minifast/plain <= 1.05 and minifast/fastai < 1', passed,
             note=f"median CPU time of {a.reps} alternating reps; wall-time ratios: minifast/plain {wall['minifast']/wall['plain']:.3f}"
                  + (f", minifast/fastai {wall['minifast']/wall['fastai']:.3f}" if fa_version else '')
                  + f"; ratios of the fastest reps (least disturbed by other load): minifast/plain {lo['minifast']/lo['plain']:.3f}"
                  + (f", minifast/fastai {lo['minifast']/lo['fastai']:.3f}" if fa_version else '') + iso)


def dispatch_cost(fa_version, n_batches=200, reps=21):
    """Per-batch cost of each training loop in isolation: a tiny linear model on pre-made batches, where the loop's
    own Python work is most of the time. Returns name -> (median, min) microseconds per batch, and the loop's time."""
    from torch import nn
    torch.manual_seed(0)
    x, y = torch.randn(64 * n_batches, 784), torch.randint(0, 10, (64 * n_batches,))
    batches = [(x[i:i + 64], y[i:i + 64]) for i in range(0, len(x), 64)]
    valid = batches[:1]
    model = nn.Linear(784, 10)
    sgd = lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)
    mf = Learner(model, DataBunch(batches, valid), F.cross_entropy, opt_func=sgd, lr=0.01,
                 cbs=AvgStatsCallback(accuracy, verbose=False))
    runs = {'minifast': lambda: mf.fit(1), 'plain': lambda: plain_epoch(model, sgd(model.parameters(), 0.01), batches, valid)}
    if fa_version:
        from functools import partial
        from fastai.data.core import DataLoaders
        from fastai.learner import Learner as FLearner
        from fastai.optimizer import OptimWrapper
        from fastai.metrics import accuracy as fa_accuracy
        fa = FLearner(DataLoaders(batches, valid), model, loss_func=F.cross_entropy,
                      opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9), lr=0.01, metrics=fa_accuracy)
        def run_fa():
            with fa.no_logging(): fa.fit(1)
        runs['fastai'] = run_fa
    times = C.alternate(runs, reps, warmup=2)
    per = {k: (C.med(v) / n_batches * 1e6, min(t[0] for t in v) / n_batches * 1e6) for k, v in times.items()}
    return per


def report_dispatch(fa_version):
    per = dispatch_cost(fa_version)
    print("  loop cost in isolation (nn.Linear(784,10), 200 batches of 64, CPU us/batch, median / fastest rep):")
    for k, (m, lo) in per.items(): print(f"    {k:9s} {m:7.1f} / {lo:7.1f}")
    extra = {k: (per[k][0] - per['plain'][0], per[k][1] - per['plain'][1]) for k in per if k != 'plain'}
    for k, (m, lo) in extra.items(): print(f"    {k} adds {m:+.1f} us/batch (median), {lo:+.1f} (fastest reps) to the plain loop's {per['plain'][0]:.1f}")
    return '; loop cost in isolation (tiny linear model, us/batch added to the plain loop, median/fastest): ' + \
        ', '.join(f"{k} {m:+.0f}/{lo:+.0f}" for k, (m, lo) in extra.items())


if __name__ == '__main__': main()
