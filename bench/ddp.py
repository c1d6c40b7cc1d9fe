"""Throughput of data-parallel training on CPU: 2 processes (torchrun, gloo, DistributedDataParallel) against 1.

Same total work in every configuration: the course's batchnorm CNN (`minifast.layers.get_cnn_model` with
`conv_layer(..., bn=True)`, filters 8-16-32-64-64) trained on the same MNIST images with the same global batch
(`--bs`, split over the processes by `DistributedCallback`), so every configuration takes the same number of
optimizer steps on the same samples per epoch. Each run trains
`--epochs` epochs; the first is warm-up and not counted; the training pass of every later epoch is timed (validation is
not) and gives one samples-per-second figure. The configurations alternate, `--reps` times, and the medians are compared:

- `1 proc x 1 thread`: the baseline, a plain process (no torchrun, so DistributedCallback does nothing);
- `2 procs x 1 thread`: `torchrun --nproc_per_node 2`, each process on one thread with half of each batch;
- `1 proc x 2 threads`: one process using both cores through PyTorch's own intra-op threads, the other way to use 2 cores.

What limits the 2-process speed-up, on 2 cores above all: the two workers need both cores, and each also runs Gloo's
communication threads, DDP's reducer and the torchrun agent beside them, so anything extra (other users of a shared
machine too) takes time from a worker, and every step waits for the slower one; each step all-reduces the gradients
over loopback TCP, time in which neither core computes the model; and the per-step costs that do not shrink with the
batch (the Python loop, the optimizer step over all the weights, which both processes do in full, launching each
layer's kernels) are paid twice, while the half batches make each matrix multiply smaller and less efficient. One
process with 2 threads splits only the big operations, with no communication, which is why it usually wins on a
small model. At best the ratio approaches 2; it grows with the work per step (bigger models and batches).

Run: `.venv/bin/python bench/ddp.py` (1 to 3 minutes; `MINIFAST_DATA` as for the notebooks). To measure on 2 dedicated
cores of a bigger machine: `taskset -c 0,1 .venv/bin/python bench/ddp.py`.
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))   # workers too: run from a checkout without installing minifast

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n-train', type=int, default=4096, help="training images per epoch")
    p.add_argument('--bs', type=int, default=128, help="global batch size")
    p.add_argument('--epochs', type=int, default=3, help="epochs per run, the first one not timed")
    p.add_argument('--reps', type=int, default=2, help="runs of each configuration, alternating")
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)   # internal: write this run's timings to this file
    return p.parse_args(argv)

def worker(args):
    "Train and record samples/s of each epoch's training pass (run in every process)."
    import torch
    import torch.nn.functional as F
    from minifast.datasets import mnist
    from minifast.data import Dataset, get_dls
    from minifast.learner import Learner, Callback
    from minifast.data import DataBunch
    from minifast.layers import get_cnn_model, conv_layer, init_cnn
    from minifast.distrib import DistributedCallback, is_main_process, num_distrib

    class TrainTimer(Callback):
        "Seconds of each epoch's training pass (batches only), measured on this process."
        def before_fit(self): self.times = []
        def before_train(self): self.t0 = time.perf_counter()
        def before_validate(self): self.times.append(time.perf_counter() - self.t0)

    x_tr, y_tr, x_va, y_va, _ = mnist(flat=False)
    x_tr, y_tr, x_va, y_va = x_tr[:args.n_train, None], y_tr[:args.n_train], x_va[:256, None], y_va[:256]
    data = DataBunch(*get_dls(Dataset(x_tr, y_tr), Dataset(x_va, y_va), bs=args.bs), c_in=1, c_out=10)
    torch.manual_seed(0)
    model = init_cnn(get_cnn_model(data, [8, 16, 32, 64, 64], partial(conv_layer, bn=True)))
    timer = TrainTimer()
    learn = Learner(model, data, F.cross_entropy, opt_func=torch.optim.SGD, lr=0.05, cbs=[timer, DistributedCallback()])
    learn.fit(args.epochs)
    if is_main_process():
        sps = [args.n_train / t for t in timer.times[1:]]
        Path(args.worker).write_text(json.dumps(dict(world=num_distrib(), threads=torch.get_num_threads(), sps=sps)))

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def run_config(procs, threads, args, tmp):
    "Launch one training run (`procs` processes of `threads` threads); return its samples/s per timed epoch."
    res = Path(tmp) / f'res_{procs}_{threads}.json'
    if res.exists(): res.unlink()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES='')   # CPU only: Gloo, even on a GPU machine
    for k in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE'): env.pop(k, None)
    common = [__file__, '--n-train', str(args.n_train), '--bs', str(args.bs), '--epochs', str(args.epochs), '--worker', str(res)]
    if procs == 1: cmd = [sys.executable] + common
    else: cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(procs), '--master_addr', '127.0.0.1',
                 '--master_port', str(_free_port())] + common
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0: raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    out = json.loads(res.read_text())
    assert out['world'] == procs and out['threads'] == threads, out
    return out['sps']

def main():
    args = parse()
    if args.worker: return worker(args)
    configs = [(1, 1), (2, 1), (1, 2)]
    names = {(1, 1): '1 proc x 1 thread', (2, 1): '2 procs x 1 thread', (1, 2): '1 proc x 2 threads'}
    sps = {c: [] for c in configs}
    t0, load0 = time.time(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for c in configs: sps[c] += run_config(*c, args, tmp)
    print(f"batchnorm CNN on {args.n_train} MNIST images per epoch, global batch {args.bs}, "
          f"{args.epochs - 1} timed epochs x {args.reps} runs per configuration ({time.time() - t0:.0f}s)")
    n_cpus, load1 = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    print(f"CPUs this process may use: {n_cpus}; load average (1 min) before/after: {load0:.1f}/{load1:.1f}"
          + (" (more than the CPUs, besides this benchmark: other work competed for them)" if max(load0, load1) > n_cpus + 1 else ""))
    med = {c: statistics.median(v) for c, v in sps.items()}
    for c in configs:
        print(f"  {names[c]:<20} median {med[c]:8.0f} samples/s   (all: {' '.join(f'{v:.0f}' for v in sps[c])})")
    print(f"2 procs / 1 proc (1 thread each): {med[(2, 1)] / med[(1, 1)]:.2f}x   "
          f"2 procs / 1 proc with 2 threads: {med[(2, 1)] / med[(1, 2)]:.2f}x   (2.00x would be perfect scaling)")
    try: import _common as C   # bench/_run_all.py gathers the rows into bench/RESULTS.md
    except ImportError: C = None
    if C is not None:
        C.record('DDP on CPU, 2 processes', '2 processes (torchrun, Gloo, DistributedCallback) vs 1 process, same global batches',
                 f'batchnorm CNN, {args.n_train} MNIST images/epoch, global batch {args.bs}, {n_cpus} CPUs',
                 f'{med[(2, 1)]:.0f} samples/s', {names[(1, 1)]: f'{med[(1, 1)]:.0f} samples/s', names[(1, 2)]: f'{med[(1, 2)]:.0f} samples/s'},
                 {'2 procs / 1 proc x 1 thread (speed)': med[(2, 1)] / med[(1, 1)], '2 procs / 1 proc x 2 threads (speed)': med[(2, 1)] / med[(1, 2)]},
                 'none: a measurement (2.00 would be perfect scaling)', None, note='limits: see bench/ddp.py docstring')
    print("limits on 2 cores: the workers, their Gloo threads and the torchrun agent share the 2 cores (any other load slows one "
          "worker and so both); each step waits for a gradient all-reduce over loopback TCP; the Python loop and the optimizer "
          "step are not split (each process runs them in full for half a batch). See this script's docstring.")

if __name__ == '__main__': main()
