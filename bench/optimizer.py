"""Time one Adam step over ResNet-18-sized parameters (CPU): minifast's adam_opt against torch.optim.AdamW(foreach=True)
and fastai's Adam.

Run: python bench/optimizer.py [--reps 15] [--steps 5] [--threads N (default 1; 0 = torch default)] [--loop]
Every optimizer owns a separate copy of the same tensors and gradients, with the same hyper-parameters (lr 1e-3,
betas 0.9/0.99, eps 1e-5, decoupled weight decay 0.01: the same AdamW arithmetic); they alternate in one process
after warm-up (order rotated every repeat), and the script prints the median wall time per step of each and the ratios
(target: minifast / torch <= 1.5). fastai's Adam (fastai.optimizer.Adam, its only Adam, a per-parameter loop) is
timed when fastai can be imported (in the venv `make bench` makes). `--loop` also times minifast's per-parameter
(non-foreach) path, for reference.
"""
import argparse, statistics, time
import _common as C
import torch
from minifast.optimizer import adam_opt

def resnet18_shapes(n_classes=1000):
    "Parameter shapes of a ResNet-18 (convs without bias, BatchNorm weight+bias, final linear): ~11.7M values in 62 tensors."
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    ni = 64
    for nf, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for b in range(2):
            shapes += [(nf, ni if b == 0 else nf, 3, 3), (nf,), (nf,), (nf, nf, 3, 3), (nf,), (nf,)]
            if b == 0 and (stride != 1 or ni != nf): shapes += [(nf, ni, 1, 1), (nf,), (nf,)]
        ni = nf
    return shapes + [(n_classes, 512), (n_classes,)]

def make_params(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    ps = [torch.randn(s, generator=g).mul_(0.05).requires_grad_() for s in shapes]
    for p in ps: p.grad = torch.randn(p.shape, generator=g).mul_(1e-2)
    return ps

def time_steps(opt, n):
    t0 = time.perf_counter()
    for _ in range(n): opt.step()
    return (time.perf_counter() - t0) / n

def small_cnn_shapes():
    "Parameter shapes of bench/_common.small_cnn (~16k values in 10 tensors), where per-step Python overhead shows."
    return [tuple(p.shape) for p in C.small_cnn().parameters()]

def fmt(sec): return f"{sec*1e3:.2f} ms" if sec >= 1e-3 else f"{sec*1e6:.0f} us"

def compare(shapes, label, reps, steps, loop):
    "Time minifast, torch and (if importable) fastai Adam steps over `shapes`; record one row."
    hyper = dict(lr=1e-3, wd=1e-2)
    opts = {'minifast': adam_opt(mom=0.9, sqr_mom=0.99, eps=1e-5)(make_params(shapes, 0), **hyper),
            'torch': torch.optim.AdamW(make_params(shapes, 0), lr=1e-3, betas=(0.9, 0.99), eps=1e-5,
                                       weight_decay=1e-2, foreach=True)}
    fa_version = C.fastai_or_none()
    if fa_version:
        from fastai.optimizer import Adam
        opts['fastai'] = Adam(make_params(shapes, 0), lr=1e-3, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=1e-2, decouple_wd=True)
    if loop: opts['minifast loop'] = adam_opt(mom=0.9, sqr_mom=0.99, eps=1e-5, foreach=False)(make_params(shapes, 0), **hyper)
    n = sum(p.numel() for p in opts['torch'].param_groups[0]['params'])
    print(f"{label}: {n/1e6:.3f}M parameters in {len(shapes)} tensors, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for o in opts.values(): time_steps(o, 3)  # warm-up: allocates the state
    times = {k: [] for k in opts}
    names = list(opts)
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]: times[k].append(time_steps(opts[k], steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items(): print(f"{k:>14}: {fmt(v):>10}/step (median of {reps} reps x {steps} steps)")
    print(f"ratio minifast / torch AdamW(foreach=True): {med['minifast']/med['torch']:.3f}")
    if loop: print(f"ratio minifast loop / torch: {med['minifast loop']/med['torch']:.3f}")
    # the optimizers did the same arithmetic on the same start: their parameters must agree
    def params(k):
        o = opts[k]
        return o.param_lists[0] if k == 'fastai' else o.param_groups[0]['params']
    for k in [k for k in opts if k != 'torch']:
        diff = max((p - q).abs().max().item() for p, q in zip(params(k), params('torch')))
        print(f"max |{k} - torch| after {3 + reps*steps} steps: {diff:.3g}")
        # minifast computes the denominator as torch does (bit for bit); fastai as sqrt(sqr_avg/debias2) + eps, whose
        # rounding drifts a little over hundreds of steps
        assert diff < (1e-6 if k.startswith('minifast') else 1e-3), f"{k} and torch.optim.AdamW disagree by {diff}"
    ratios = {'minifast/torch': med['minifast'] / med['torch']}
    refs = {'torch AdamW(foreach)': fmt(med['torch'])}
    if fa_version:
        print(f"ratio minifast / fastai Adam: {med['minifast']/med['fastai']:.3f}")
        ratios['minifast/fastai'] = med['minifast'] / med['fastai']
        refs['fastai Adam'] = fmt(med['fastai'])
    C.record(f'Adam step, {label}', 'minifast adam_opt (foreach) vs torch.optim.AdamW(foreach=True) vs fastai Adam',
             f"{n/1e6:.3g}M parameters in {len(shapes)} tensors, CPU, {torch.get_num_threads()} thread(s)",
             fmt(med['minifast']), refs, ratios, 'minifast/torch <= 1.5', ratios['minifast/torch'] <= 1.5,
             note=f"median wall time per step, {reps} alternating reps x {steps} steps")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reps', type=int, default=15)
    ap.add_argument('--steps', type=int, default=5, help='steps per timed rep (x40 for the small CNN)')
    # one thread by default: these ops are memory-bound, and extra OpenMP threads on a shared machine mostly add noise
    ap.add_argument('--threads', type=int, default=1, help='torch threads (0: leave torch\'s default)')
    ap.add_argument('--loop', action='store_true', help="also time minifast's per-parameter path")
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    compare(resnet18_shapes(), 'ResNet-18 shapes', a.reps, a.steps, a.loop)
    compare(small_cnn_shapes(), 'small CNN', a.reps, a.steps * 40, a.loop)

if __name__ == '__main__': main()
