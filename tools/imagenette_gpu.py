"""Imagenette at 128 px in 5 epochs on one GPU: XResNet50 with minifast's Learner, and the same loop in plain PyTorch.

    python tools/imagenette_gpu.py [--data DIR] [--runs 1] [--sides minifast,plain] [--compile]

The recipe follows the course's `train_imagenette` script: XResNet50 (minifast.xresnet), 128 px, 5 epochs, one-cycle
Adam (peak lr 8e-3, 25% warm-up, momentum 0.95 -> 0.85 -> 0.95, beta2 0.99, eps 1e-6, decoupled weight decay 1e-2),
label smoothing 0.1, random resized crops (35-100% of the area, aspect 3/4-4/3) and flips. What makes it fast on a
modern GPU: the whole data set decoded once (threads) and kept on the GPU as uint8 (13,394 x 3 x 128 x 128 = 0.66 GB),
the augmentation done per batch on the GPU (one `affine_grid` + `grid_sample`, minifast.augment.affine_warp), bfloat16
autocast (minifast.fp16.MixedPrecision), channels_last, and optionally `torch.compile`.
Both sides get the same batches (the same iterable), the same model and initial weights and the same schedule, so
minifast's time over plain's is the Learner's overhead (callbacks, statistics, its optimizer).
Prints, per side and run: the accuracy on the 3,925 validation images, the time per epoch, images per second and the
whole run's time with data loading. `--device cpu --n-train 256 --n-valid 128 --size 32 --epochs 1 --bs 32` checks the
script on a CPU in a minute. The data set is ../shared/data/imagenette-128 (SOURCE.md there: squashed 128 px copies,
close to but not the leaderboard's conditions), or $MINIFAST_DATA/imagenette-128, or --data.
"""
import argparse, math, os, sys, time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
import PIL.Image
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))   # run from a checkout without installing minifast
from minifast.xresnet import xresnet18, xresnet34, xresnet50
from minifast.learner import Learner, AvgStatsCallback
from minifast.data import DataBunch
from minifast.losses import accuracy
from minifast.optimizer import adam_opt
from minifast.schedule import ParamScheduler, sched_1cycle, sched_cos, combine_scheds
from minifast.mixup import LabelSmoothingCrossEntropy
from minifast.fp16 import MixedPrecision
from minifast.augment import affine_warp

ARCHS = {'xresnet18': xresnet18, 'xresnet34': xresnet34, 'xresnet50': xresnet50}
PCT, DIV, DIV_FINAL, MOMS, SQR_MOM, EPS, WD, LS = 0.25, 25., 1e5, (0.95, 0.85, 0.95), 0.99, 1e-6, 1e-2, 0.1
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])   # ImageNet's statistics


def find_data(arg):
    "The Imagenette-128 folder: --data, else ../shared/data/imagenette-128 beside the checkout, else $MINIFAST_DATA's."
    cands = [Path(arg)] if arg else [REPO.parent / 'shared/data/imagenette-128', REPO / 'shared/data/imagenette-128']
    if not arg and os.environ.get('MINIFAST_DATA'): cands.append(Path(os.environ['MINIFAST_DATA']) / 'imagenette-128')
    for c in cands:
        if (c / 'train').is_dir() and (c / 'val').is_dir(): return c
    sys.exit(f"imagenette_gpu: no Imagenette folder with train/ and val/ found (looked in "
             f"{', '.join(map(str, cands))}): pass --data")


def load_split(root, split, size, n=None, workers=16):
    "Every image of `root/split` decoded once as a uint8 tensor (N, 3, size, size), and the labels; `n`: a subset."
    classes = sorted(d.name for d in (root / 'train').iterdir() if d.is_dir())
    files = sorted((f, i) for i, c in enumerate(classes) for f in (root / split / c).iterdir())
    if n: files = [files[j] for j in torch.randperm(len(files), generator=torch.Generator().manual_seed(0))[:n]]
    def read(f):
        im = PIL.Image.open(f).convert('RGB')
        if im.size != (size, size): im = im.resize((size, size), PIL.Image.BILINEAR)
        return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)
    with ThreadPoolExecutor(workers) as ex: xs = list(ex.map(read, [f for f, _ in files]))   # PIL decodes unlocked
    return torch.stack(xs), torch.tensor([i for _, i in files]), classes


def rrc_thetas(n, min_scale=0.35, ratio=(3 / 4, 4 / 3), p_flip=0.5, device=None):
    "`n` affine matrices of random resized crops (area `min_scale`-1, aspect `ratio`) with left-right flips."
    u = lambda: torch.rand(n, device=device)
    area = min_scale + (1 - min_scale) * u()
    logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u()
    sx, sy = (area * logr.exp()).sqrt().clamp(max=1), (area / logr.exp()).sqrt().clamp(max=1)
    tx, ty = (u() * 2 - 1) * (1 - sx), (u() * 2 - 1) * (1 - sy)
    flip = torch.where(u() < p_flip, -1., 1.)
    zero = torch.zeros(n, device=device)
    return torch.stack([torch.stack([sx * flip, zero, tx], 1), torch.stack([zero, sy, ty], 1)], 1)


class GPUBatches:
    "Batches of the uint8 images `x` (on the device) as normalised floats, shuffled and augmented when `train`."
    def __init__(self, x, y, bs, train):
        self.x, self.y, self.bs, self.train = x, y, bs, train
        self.mean, self.std = (MEAN * 255).to(x.device).view(1, 3, 1, 1), (STD * 255).to(x.device).view(1, 3, 1, 1)
    def __len__(self): return len(self.x) // self.bs if self.train else -(-len(self.x) // self.bs)
    def __iter__(self):
        n = len(self.x)
        idx = torch.randperm(n, device=self.x.device) if self.train else torch.arange(n, device=self.x.device)
        for i in range(len(self)):
            j = idx[i * self.bs:(i + 1) * self.bs]
            xb = ((self.x[j].float() - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            if self.train: xb = affine_warp(xb, rrc_thetas(len(xb), device=xb.device), padding_mode='reflection')
            yield xb, self.y[j]


def evaluate(model, dl):
    "Accuracy of `model` over `dl` under bf16 autocast."
    model.eval()
    correct = n = 0
    with torch.no_grad(), torch.autocast(dl.x.device.type, dtype=torch.bfloat16):
        for xb, yb in dl:
            correct += (model(xb).argmax(1) == yb).sum()
            n += len(yb)
    return correct.item() / n


def _sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


class EpochTimer:
    "Wall time of every training epoch (synchronised with the GPU), for both sides."
    def __init__(self, device): self.device, self.times = device, []
    def start(self): _sync(self.device); self.t = time.perf_counter()
    def stop(self): _sync(self.device); self.times.append(time.perf_counter() - self.t)


def train_minifast(model, train_dl, valid_dl, epochs, lr, timer):
    from minifast.learner import Callback
    class TimeEpochs(Callback):
        def before_train(self): timer.start()
        def before_validate(self): timer.stop()   # the training part of the epoch ends here
    mom = combine_scheds([PCT, 1 - PCT], [sched_cos(MOMS[0], MOMS[1]), sched_cos(MOMS[1], MOMS[2])])
    learn = Learner(model, DataBunch(train_dl, valid_dl), LabelSmoothingCrossEntropy(LS),
                    opt_func=adam_opt(mom=MOMS[0], sqr_mom=SQR_MOM, eps=EPS, wd=WD), lr=lr,
                    cbs=[AvgStatsCallback(accuracy, verbose=False), TimeEpochs(),
                         ParamScheduler('lr', sched_1cycle(lr, pct_start=PCT, div=DIV, div_final=DIV_FINAL)),
                         ParamScheduler('mom', mom), MixedPrecision(torch.bfloat16)])
    learn.fit(epochs)


def _cos(a, b, pos): return a + (1 + math.cos(math.pi * (1 - pos))) * (b - a) / 2
def _one_cycle(pos, lo, hi, final):
    return _cos(lo, hi, pos / PCT) if pos < PCT else _cos(hi, final, (pos - PCT) / (1 - PCT))


def train_plain(model, train_dl, valid_dl, epochs, lr, timer):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(MOMS[0], SQR_MOM), eps=EPS, weight_decay=WD,
                            foreach=True)
    dev, total, step = train_dl.x.device.type, epochs * len(train_dl), 0
    for _ in range(epochs):
        model.train()
        timer.start()
        for xb, yb in train_dl:
            pos = step / total
            for g in opt.param_groups:
                g['lr'] = _one_cycle(pos, lr / DIV, lr, lr / DIV_FINAL)
                g['betas'] = (_one_cycle(pos, *MOMS), SQR_MOM)
            with torch.autocast(dev, dtype=torch.bfloat16):
                loss = F.cross_entropy(model(xb), yb, label_smoothing=LS)
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
        timer.stop()
        evaluate(model, valid_dl)   # the validation pass a Learner makes after every epoch


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=None, help="the imagenette-128 folder (train/ and val/)")
    p.add_argument('--arch', default='xresnet50', choices=list(ARCHS))
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--lr', type=float, default=8e-3)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--runs', type=int, default=1, help="runs per side, seeds 0, 1, ...")
    p.add_argument('--sides', default='minifast,plain', help="comma-separated: minifast, plain")
    p.add_argument('--compile', action='store_true', help="torch.compile the model")
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--n-train', type=int, default=None, help="a random subset of the training images (quick checks)")
    p.add_argument('--n-valid', type=int, default=None, help="a random subset of the validation images")
    a = p.parse_args()
    t_all = time.perf_counter()
    dev = torch.device(a.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    root = find_data(a.data)
    t = time.perf_counter()
    xt, yt, classes = load_split(root, 'train', a.size, a.n_train)
    xv, yv, _ = load_split(root, 'val', a.size, a.n_valid)
    xt, yt, xv, yv = xt.to(dev), yt.to(dev), xv.to(dev), yv.to(dev)
    load_s = time.perf_counter() - t
    print(f"data: {len(xt)} train + {len(xv)} valid images at {a.size} px from {root}, decoded and moved to {dev} in "
          f"{load_s:.1f}s ({xt.numel() + xv.numel():,} bytes as uint8)", flush=True)
    train_dl, valid_dl = GPUBatches(xt, yt, a.bs, True), GPUBatches(xv, yv, 2 * a.bs, False)
    sides = {'minifast': train_minifast, 'plain': train_plain}
    res = {}
    for run in range(a.runs):
        for name in a.sides.split(','):
            torch.manual_seed(run)
            model = ARCHS[a.arch](n_out=len(classes)).to(dev).to(memory_format=torch.channels_last)
            if a.compile: model = torch.compile(model)
            timer = EpochTimer(dev)
            _sync(dev); t = time.perf_counter()
            sides[name](model, train_dl, valid_dl, a.epochs, a.lr, timer)
            _sync(dev); fit_s = time.perf_counter() - t
            acc = evaluate(model, valid_dl)
            ep = timer.times
            ips = len(train_dl) * a.bs / min(ep)
            res.setdefault(name, []).append((acc, fit_s, ep))
            print(f"run {run} {name:8s}: accuracy {acc:.4f}; fit {fit_s:.1f}s (validation included); training epochs "
                  f"{', '.join(f'{e:.1f}' for e in ep)}s; {ips:,.0f} images/s in the fastest epoch", flush=True)
    for name, rs in res.items():
        accs = [r[0] for r in rs]
        sd = (sum((x - sum(accs) / len(accs)) ** 2 for x in accs) / (len(accs) - 1)) ** 0.5 if len(accs) > 1 else 0.
        print(f"{name}: accuracy {sum(accs) / len(accs):.4f} +/- {sd:.4f} over {len(accs)} run(s); median fit "
              f"{sorted(r[1] for r in rs)[len(rs) // 2]:.1f}s")
    if 'minifast' in res and 'plain' in res:
        fm, fp = sum(r[1] for r in res['minifast']), sum(r[1] for r in res['plain'])
        em = sum(sum(r[2][1:]) or r[2][0] for r in res['minifast'])
        ep_ = sum(sum(r[2][1:]) or r[2][0] for r in res['plain'])
        print(f"minifast/plain: fit time {fm / fp:.3f}, training epochs after the first {em / ep_:.3f}")
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'
    print(f"{a.arch}, {a.size} px, {a.epochs} epochs, bs {a.bs}, lr {a.lr}, compile {a.compile}, on {name}; torch "
          f"{torch.__version__}; data loading {load_s:.1f}s; whole script {time.perf_counter() - t_all:.1f}s")


if __name__ == '__main__': main()
