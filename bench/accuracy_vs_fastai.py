"""Validation accuracy on Fashion-MNIST after the same short one-cycle Adam training: minifast vs fastai vs plain PyTorch.

Each side trains the same CNN (bench/_common.small_cnn) from the same initial weights, on the same batches in the same
order (bench/_common.TensorBatches, seeded identically), with the same loss (F.cross_entropy) and the same
hyper-parameters, each with its own optimizer and one-cycle schedule:
- minifast: `Learner` + `adam_opt` + `ParamScheduler('lr', sched_1cycle(...))` + `ParamScheduler('mom', ...)`;
- fastai: `Learner(opt_func=Adam)` + `fit_one_cycle` (its own Adam and schedules);
- plain: `torch.optim.AdamW(foreach=True)` + `torch.optim.lr_scheduler.OneCycleLR` (cosine, momentum cycled).
Hyper-parameters (all sides): lr_max 1e-2, one cycle with 25% warm-up from lr_max/25 down to lr_max/1e5,
momentum (beta1) 0.95 -> 0.85 -> 0.95, beta2 0.99, eps 1e-5, decoupled weight decay 0.01, batch size 64.
The accuracy of every side is measured by the same function on the whole 10,000-image test set, for several
seeds (seed = initial weights and shuffling); we report the mean. Target: minifast >= fastai - 0.5 points.

    python bench/accuracy_vs_fastai.py [--seeds 3] [--epochs 2] [--n-train 20000] [--threads 1]
"""
import argparse, statistics, time
import _common as C
import torch
import torch.nn.functional as F
from minifast.datasets import fashion_mnist
from minifast.learner import Learner, AvgStatsCallback
from minifast.data import DataBunch
from minifast.losses import accuracy
from minifast.optimizer import adam_opt
from minifast.schedule import ParamScheduler, sched_1cycle, sched_cos, combine_scheds

LR, PCT, DIV, DIV_FINAL, MOMS, SQR_MOM, EPS, WD, BS = 1e-2, 0.25, 25., 1e5, (0.95, 0.85, 0.95), 0.99, 1e-5, 1e-2, 64


@torch.no_grad()
def valid_accuracy(model, x, y):
    "Accuracy on (x, y), in batches, the same function for every side."
    model.eval()
    return sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000)) / len(x)


def train_minifast(model, train_dl, valid_dl, epochs):
    mom_sched = combine_scheds([PCT, 1 - PCT], [sched_cos(MOMS[0], MOMS[1]), sched_cos(MOMS[1], MOMS[2])])
    learn = Learner(model, DataBunch(train_dl, valid_dl), F.cross_entropy,
                    opt_func=adam_opt(mom=MOMS[0], sqr_mom=SQR_MOM, eps=EPS, wd=WD), lr=LR,
                    cbs=[AvgStatsCallback(accuracy, verbose=False),
                         ParamScheduler('lr', sched_1cycle(LR, pct_start=PCT, div=DIV, div_final=DIV_FINAL)),
                         ParamScheduler('mom', mom_sched)])
    learn.fit(epochs)


def train_fastai(model, train_dl, valid_dl, epochs):
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner as FLearner
    from fastai.optimizer import Adam
    from fastai.metrics import accuracy as fa_accuracy
    from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches Learner.fit_one_cycle)
    from fastai.callback.progress import ProgressCallback
    learn = FLearner(DataLoaders(train_dl, valid_dl), model, loss_func=F.cross_entropy,
                     opt_func=partial_adam(Adam), lr=LR, metrics=fa_accuracy)
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    with learn.no_logging():
        learn.fit_one_cycle(epochs, LR, div=DIV, div_final=DIV_FINAL, pct_start=PCT, moms=MOMS, wd=WD)


def partial_adam(Adam):
    from functools import partial
    return partial(Adam, mom=MOMS[0], sqr_mom=SQR_MOM, eps=EPS, wd=WD)


def train_plain(model, train_dl, valid_dl, epochs):
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(MOMS[0], SQR_MOM), eps=EPS, weight_decay=WD, foreach=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * len(train_dl), pct_start=PCT,
                                                anneal_strategy='cos', div_factor=DIV, final_div_factor=DIV_FINAL / DIV,
                                                cycle_momentum=True, base_momentum=MOMS[1], max_momentum=MOMS[0])
    for _ in range(epochs):
        model.train()
        for xb, yb in train_dl:
            F.cross_entropy(model(xb), yb).backward()
            opt.step(); sched.step(); opt.zero_grad()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--n-train', type=int, default=20_000)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    xt, yt, xv, yv, _ = fashion_mnist(show_progress=False)
    xt, yt = xt[:a.n_train], yt[:a.n_train]
    m, s = xt.mean(), xt.std()
    xt, xv = (xt - m) / s, (xv - m) / s
    train_dl, valid_dl = C.TensorBatches(xt, yt, BS, True), C.TensorBatches(xv, yv, 2 * BS, False)

    sides = {'minifast': train_minifast, 'plain': train_plain}
    fa_version = C.fastai_or_none()
    if fa_version: sides['fastai'] = train_fastai
    else: print("fastai is not importable here: run through `make bench`, which makes its venv; minifast vs plain only")
    acc = {k: [] for k in sides}
    secs = {k: [] for k in sides}
    for seed in range(a.seeds):
        names = list(sides)
        for k in names[seed % len(names):] + names[:seed % len(names)]:
            torch.manual_seed(seed)
            model = C.small_cnn()   # same initial weights for every side of this seed
            t = time.process_time()
            sides[k](model, train_dl, valid_dl, a.epochs)
            secs[k].append(time.process_time() - t)
            acc[k].append(valid_accuracy(model, xv, yv))
        print(f"seed {seed}: " + ', '.join(f"{k} {acc[k][-1]*100:.2f}%" for k in sides))
    mean = {k: statistics.mean(v) * 100 for k, v in acc.items()}
    print(f"Fashion-MNIST {a.n_train} train images, {a.epochs} epochs, bs {BS}, accuracy on the 10,000 test images, "
          f"mean of {a.seeds} seeds; torch {torch.__version__}, fastai {fa_version}")
    for k in sides:
        print(f"  {k:9s} {mean[k]:6.2f}%  (seeds: {', '.join(f'{x*100:.2f}' for x in acc[k])}; "
              f"median train CPU time {statistics.median(secs[k]):.1f} s)")
    refs = {k: f"{mean[k]:.2f}%" for k in sides if k != 'minifast'}
    diffs = {f'minifast-{k} (points)': mean['minifast'] - mean[k] for k in sides if k != 'minifast'}
    passed = diffs['minifast-fastai (points)'] >= -0.5 if fa_version else None
    C.record('Accuracy after one-cycle Adam', 'minifast vs fastai vs plain PyTorch (each its own Adam and one-cycle)',
             f"Fashion-MNIST {a.n_train} train images, {a.epochs} epochs, bs {BS}, lr_max {LR}, wd {WD}, 10k test images, "
             f"mean of {a.seeds} seeds", f"{mean['minifast']:.2f}%", refs, diffs,
             'minifast >= fastai - 0.5 points', passed,
             note='differences in points of accuracy, not ratios; per-seed: ' +
                  '; '.join(f"{k} " + '/'.join(f'{x*100:.2f}' for x in acc[k]) for k in sides))


if __name__ == '__main__': main()
