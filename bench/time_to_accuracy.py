"""Time to accuracy: the Fashion-MNIST five-epoch record recipe (notebook 11c) with minifast vs plain PyTorch vs fastai.

Every side trains the same model (`minifast.small_resnet.small_resnet`, channels_last) from the same initial weights, on
the same batches in the same order (bench/_common.TensorBatches, seeded identically, the whole tensor normalised once
up front), for the same 5 epochs, and evaluates the 10,000 test images after every epoch (as a Learner does):
- minifast: `Learner` + `adam_opt` + `ParamScheduler`s (`sched_1cycle`, cosine momentum) + `LabelSmoothingCrossEntropy`
  + `MixedPrecision(torch.bfloat16)` + `RandomFlipCallback`, as `minifast_train --preset record` builds it;
- plain: a hand-written loop: `torch.optim.AdamW(foreach=True)`, the same one-cycle schedule computed per step,
  `F.cross_entropy(label_smoothing=0.1)` under `torch.autocast(bfloat16)`, the flip with one `torch.where`;
- fastai: `Learner(opt_func=Adam)` + `fit_one_cycle` + fastai's `LabelSmoothingCrossEntropy`, with two small fastai
  callbacks for the same flip and the CPU bfloat16 autocast (fastai's `MixedPrecision` is float16 with a CUDA scaler).
Hyper-parameters (all sides): batch size 128, lr_max 2e-2, one cycle with 25% warm-up from lr_max/25 down to
lr_max/1e4, momentum (beta1) 0.95 -> 0.85 -> 0.95, beta2 0.99, eps 1e-5, no weight decay, label smoothing 0.1.
Each side is trained once (the sides take turns in one process); the accuracy of every side, plain and with flip TTA,
is measured by the same function. Targets: minifast's accuracy at least the others' minus the seed-to-seed noise
(0.3 points), and its wall time at most 1.05x the plain loop's.

    python bench/time_to_accuracy.py [--epochs 5] [--threads 2] [--n-train N] [--seed 0] [--no-fastai]
"""
import argparse, math, time
import _common as C
import torch
import torch.nn.functional as F
from minifast.datasets import fashion_mnist
from minifast.learner import Learner, AvgStatsCallback
from minifast.data import DataBunch
from minifast.losses import accuracy
from minifast.optimizer import adam_opt
from minifast.schedule import ParamScheduler, sched_1cycle, sched_cos, combine_scheds
from minifast.mixup import LabelSmoothingCrossEntropy
from minifast.fp16 import MixedPrecision
from minifast.augment import RandomFlipCallback
from minifast.small_resnet import small_resnet

BS, LR, PCT, DIV, DIV_FINAL, MOMS, SQR_MOM, EPS, LS = 128, 2e-2, 0.25, 25., 1e4, (0.95, 0.85, 0.95), 0.99, 1e-5, 0.1


@torch.no_grad()
def valid_accuracy(model, x, y, tta=False):
    "Accuracy on (x, y) in batches of 1,000 (with flip TTA if `tta`), under bf16 autocast: one function for every side."
    model.eval()
    correct = 0
    with torch.autocast('cpu', dtype=torch.bfloat16):
        for i in range(0, len(x), 1000):
            xb = x[i:i + 1000]
            p = model(xb).float().softmax(1)
            if tta: p = p + model(xb.flip(3)).float().softmax(1)
            correct += (p.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train_minifast(model, train_dl, valid_dl, epochs):
    mom_sched = combine_scheds([PCT, 1 - PCT], [sched_cos(MOMS[0], MOMS[1]), sched_cos(MOMS[1], MOMS[2])])
    learn = Learner(model, DataBunch(train_dl, valid_dl), LabelSmoothingCrossEntropy(LS),
                    opt_func=adam_opt(mom=MOMS[0], sqr_mom=SQR_MOM, eps=EPS, wd=0.), lr=LR,
                    cbs=[AvgStatsCallback(accuracy, verbose=False),
                         ParamScheduler('lr', sched_1cycle(LR, pct_start=PCT, div=DIV, div_final=DIV_FINAL)),
                         ParamScheduler('mom', mom_sched), MixedPrecision(torch.bfloat16), RandomFlipCallback()])
    learn.fit(epochs)


def _cos(start, end, pos): return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2
def _one_cycle(pos, lo, hi, final):
    return _cos(lo, hi, pos / PCT) if pos < PCT else _cos(hi, final, (pos - PCT) / (1 - PCT))


def train_plain(model, train_dl, valid_dl, epochs):
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(MOMS[0], SQR_MOM), eps=EPS, weight_decay=0.,
                            foreach=True)
    total, step = epochs * len(train_dl), 0
    for _ in range(epochs):
        model.train()
        for xb, yb in train_dl:
            xb = torch.where(torch.rand(len(xb), 1, 1, 1) < 0.5, xb.flip(3), xb)
            pos = step / total
            for g in opt.param_groups:
                g['lr'] = _one_cycle(pos, LR / DIV, LR, LR / DIV_FINAL)
                g['betas'] = (_one_cycle(pos, MOMS[0], MOMS[1], MOMS[2]), SQR_MOM)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                loss = F.cross_entropy(model(xb), yb, label_smoothing=LS)
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
        model.eval()   # the validation pass a Learner makes after every epoch: loss and accuracy
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            for xb, yb in valid_dl:
                pred = model(xb)
                F.cross_entropy(pred, yb, label_smoothing=LS), (pred.argmax(1) == yb).float().mean()


def train_fastai(model, train_dl, valid_dl, epochs):
    from functools import partial
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner as FLearner
    from fastai.callback.core import Callback as FCallback
    from fastai.optimizer import Adam
    from fastai.losses import LabelSmoothingCrossEntropy as FLabelSmoothing
    from fastai.metrics import accuracy as fa_accuracy
    from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches Learner.fit_one_cycle)
    from fastai.callback.progress import ProgressCallback

    class FlipCB(FCallback):
        "Random left-right flips of the training batches, as RandomFlipCallback and the plain loop do."
        order = 1
        def before_batch(self):
            if self.training:
                xb = self.learn.xb[0]
                self.learn.xb = (torch.where(torch.rand(len(xb), 1, 1, 1) < 0.5, xb.flip(3), xb),)

    class BF16CB(FCallback):
        "The forward pass and the loss under CPU bfloat16 autocast, as minifast's MixedPrecision does on a CPU."
        order = 10
        def before_batch(self): self.ac = torch.autocast('cpu', dtype=torch.bfloat16); self.ac.__enter__()
        def after_loss(self): self.ac.__exit__(None, None, None)

    learn = FLearner(DataLoaders(train_dl, valid_dl), model, loss_func=FLabelSmoothing(eps=LS),
                     opt_func=partial(Adam, mom=MOMS[0], sqr_mom=SQR_MOM, eps=EPS, wd=0.), lr=LR, metrics=fa_accuracy,
                     cbs=[FlipCB(), BF16CB()])
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    with learn.no_logging():
        learn.fit_one_cycle(epochs, LR, div=DIV, div_final=DIV_FINAL, pct_start=PCT, moms=MOMS, wd=0.)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--n-train', type=int, default=None, help="train on the first N images (quick checks)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-fastai', action='store_true', help="minifast vs plain PyTorch only")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    xt, yt, xv, yv, _ = fashion_mnist(flat=False, show_progress=False)
    if a.n_train: xt, yt = xt[:a.n_train], yt[:a.n_train]
    m, s = xt.mean(), xt.std()
    xt, xv = ((xt - m) / s)[:, None], ((xv - m) / s)[:, None]
    train_dl, valid_dl = C.TensorBatches(xt, yt, BS, True), C.TensorBatches(xv, yv, 2 * BS, False)

    sides = {'plain': train_plain, 'minifast': train_minifast}
    fa_version = None if a.no_fastai else C.fastai_or_none()
    if fa_version: sides['fastai'] = train_fastai
    elif not a.no_fastai: print("fastai is not importable here: run through `make bench` (its venv); minifast vs plain")
    acc, acc_tta, wall, cpu = {}, {}, {}, {}
    load0 = open('/proc/loadavg').read().split()[0]
    for k, train in sides.items():
        torch.manual_seed(a.seed)
        model = small_resnet().to(memory_format=torch.channels_last)   # same initial weights for every side
        torch.manual_seed(a.seed + 1)   # same batch order and flips for every side
        c, w = time.process_time(), time.perf_counter()
        train(model, train_dl, valid_dl, a.epochs)
        wall[k], cpu[k] = time.perf_counter() - w, time.process_time() - c
        acc[k], acc_tta[k] = valid_accuracy(model, xv, yv), valid_accuracy(model, xv, yv, tta=True)
        print(f"{k:9s} accuracy {acc[k] * 100:.2f}% (flip TTA {acc_tta[k] * 100:.2f}%), training {wall[k]:.1f}s wall, "
              f"{cpu[k]:.1f}s CPU, load average {open('/proc/loadavg').read().split()[0]}", flush=True)
    n = len(xt)
    ratio = wall['minifast'] / wall['plain']
    print(f"Fashion-MNIST {n} train images, {a.epochs} epochs, bs {BS}, {a.threads} threads; "
          f"minifast/plain wall time {ratio:.3f} (CPU time {cpu['minifast'] / cpu['plain']:.3f}); "
          f"torch {torch.__version__}, fastai {fa_version}; load average {load0} at the start")
    refs = {k: f"{acc[k] * 100:.2f}% (TTA {acc_tta[k] * 100:.2f}%) in {wall[k]:.0f} s"
            for k in sides if k != 'minifast'}
    ratios = {'minifast/plain (wall time)': ratio, 'minifast/plain (CPU time)': cpu['minifast'] / cpu['plain']}
    ratios.update({f'minifast-{k} (points)': (acc['minifast'] - acc[k]) * 100 for k in sides if k != 'minifast'})
    passed = ratio <= 1.05 and all(acc['minifast'] >= acc[k] - 0.003 for k in sides)
    C.record('Time to accuracy: Fashion-MNIST record recipe', 'minifast vs plain PyTorch vs fastai (same model, data, '
             'recipe)', f"Fashion-MNIST {n} train images, {a.epochs} epochs, bs {BS}, small_resnet, one-cycle Adam "
             f"lr_max {LR}, label smoothing {LS}, flips, bf16, {a.threads} threads, 10k test images, one run each",
             f"{acc['minifast'] * 100:.2f}% (TTA {acc_tta['minifast'] * 100:.2f}%) in {wall['minifast']:.0f} s", refs,
             ratios, 'minifast/plain wall <= 1.05 and accuracy >= each other side - 0.3 points (one seed)', passed,
             note='one run per side in one process (plain, minifast, fastai in turn); times include the validation '
                  'pass after every epoch; the accuracy difference between sides of one seed is within the 0.1-0.2 '
                  'points seed-to-seed noise of the recipe')


if __name__ == '__main__': main()
