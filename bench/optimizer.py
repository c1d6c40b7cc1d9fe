"""Time one Adam step over ResNet-18-sized parameters (CPU): minifast's adam_opt against torch.optim.AdamW(foreach=True).

Run: .venv/bin/python bench/optimizer.py [--reps 15] [--steps 5] [--threads N (default 1; 0 = torch default)] [--loop]
Both optimizers own separate copies of the same tensors and gradients; they alternate in one process after warm-up,
and the script prints the median time per step of each and the ratio minifast / torch (target: <= 1.5).
`--loop` also times minifast's per-parameter (non-foreach) path, for reference.
"""
import argparse, statistics, time, torch
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

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reps', type=int, default=15)
    ap.add_argument('--steps', type=int, default=5, help='steps per timed rep')
    # one thread by default: these ops are memory-bound, and extra OpenMP threads on a shared machine mostly add noise
    ap.add_argument('--threads', type=int, default=1, help='torch threads (0: leave torch\'s default)')
    ap.add_argument('--loop', action='store_true', help="also time minifast's per-parameter path")
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    shapes = resnet18_shapes()
    hyper = dict(lr=1e-3, wd=1e-2)
    opts = {'minifast': adam_opt(mom=0.9, sqr_mom=0.99, eps=1e-5)(make_params(shapes, 0), **hyper),
            'torch': torch.optim.AdamW(make_params(shapes, 0), lr=1e-3, betas=(0.9, 0.99), eps=1e-5,
                                       weight_decay=1e-2, foreach=True)}
    if a.loop: opts['minifast loop'] = adam_opt(mom=0.9, sqr_mom=0.99, eps=1e-5, foreach=False)(make_params(shapes, 0), **hyper)
    n = sum(p.numel() for p in opts['torch'].param_groups[0]['params'])
    print(f"{n/1e6:.2f}M parameters in {len(shapes)} tensors, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for o in opts.values(): time_steps(o, 3)  # warm-up: allocates the state
    times = {k: [] for k in opts}
    for _ in range(a.reps):
        for k, o in opts.items(): times[k].append(time_steps(o, a.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items(): print(f"{k:>14}: {v*1e3:8.2f} ms/step (median of {a.reps} reps x {a.steps} steps)")
    print(f"ratio minifast / torch AdamW(foreach=True): {med['minifast']/med['torch']:.3f}")
    if a.loop: print(f"ratio minifast loop / torch: {med['minifast loop']/med['torch']:.3f}")
    # the two optimizers did the same arithmetic on the same start: their parameters must agree
    diff = max((p - q).abs().max().item() for p, q in zip(opts['minifast'].param_groups[0]['params'], opts['torch'].param_groups[0]['params']))
    print(f"max |minifast - torch| after {3 + a.reps*a.steps} steps: {diff:.3g}")

if __name__ == '__main__': main()
