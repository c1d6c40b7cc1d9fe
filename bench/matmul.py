"""Matrix-multiplication ladder from nbs/01_matmul.ipynb, timed against `torch.matmul`.

Run: `.venv/bin/python bench/matmul.py [--repeats N]`. Multiplies MNIST validation images (784 pixels)
by a 784x10 weight matrix with each version of the lesson. The slow versions only get a few rows, so
every timing is per row of output (the same 784x10 multiply-adds in every version). Each version
and `torch.matmul` are run alternately in the same process after a warm-up, and the ratio reported is
the median over repeats of (version time per row) / (torch.matmul time per row measured next to it).
"""
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing
from minifast.datasets import mnist

def matmul_loops(a, b):
    (ar, ac), bc = a.shape, b.shape[1]
    c = torch.zeros(ar, bc)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac): c[i, j] += a[i, k] * b[k, j]
    return c

def matmul_lists(a, b):
    a, b = a.tolist(), b.tolist()
    c = [[0.] * len(b[0]) for _ in a]
    for i in range(len(a)):
        for j in range(len(b[0])):
            s = 0.
            for k in range(len(b)): s += a[i][k] * b[k][j]
            c[i][j] = s
    return torch.tensor(c)

def matmul_elementwise(a, b):
    c = torch.zeros(a.shape[0], b.shape[1])
    for i in range(a.shape[0]):
        for j in range(b.shape[1]): c[i, j] = (a[i, :] * b[:, j]).sum()
    return c

def matmul_broadcast(a, b):
    c = torch.zeros(a.shape[0], b.shape[1])
    for i in range(a.shape[0]): c[i] = (a[i, :, None] * b).sum(dim=0)
    return c

def matmul_broadcast_noloop(a, b): return (a[:, :, None] * b[None]).sum(dim=1)
def matmul_einsum(a, b): return torch.einsum('ik,kj->ij', a, b)

LADDER = [('triple loop (tensors)', matmul_loops, 2),
          ('triple loop (lists)', matmul_lists, 5),
          ('elementwise (2 loops)', matmul_elementwise, 50),
          ('broadcast (1 loop)', matmul_broadcast, 1000),
          ('broadcast (no loop)', matmul_broadcast_noloop, 1000),
          ('einsum', matmul_einsum, 10000),
          ('torch.matmul', torch.matmul, 10000)]

def per_row(f, x, w):
    start = time.perf_counter(); f(x, w)
    return (time.perf_counter() - start) / len(x)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=5, help='alternating runs per version (median reported)')
    args = p.parse_args()
    _, _, x_valid, _, _ = mnist()
    torch.manual_seed(42)
    w = torch.randn(784, 10)
    ref_x = x_valid[:10000]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} alternating repeats, medians")
    print(f"{'version':<24}{'rows':>7}{'µs per row':>14}{'× torch.matmul':>16}")
    for name, f, n in LADDER:
        x = x_valid[:n]
        assert torch.allclose(f(x, w), x @ w, rtol=1e-3, atol=1e-4), f"{name} disagrees with torch.matmul"
        torch.matmul(ref_x, w)   # warm-up both
        times, ratios = [], []
        for _ in range(args.repeats):
            t = per_row(f, x, w); r = per_row(torch.matmul, ref_x, w)
            times.append(t); ratios.append(t / r)
        print(f"{name:<24}{n:>7}{statistics.median(times)*1e6:>14.2f}{statistics.median(ratios):>16.1f}")

if __name__ == '__main__': main()
