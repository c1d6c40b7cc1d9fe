"""Check `DistributedCallback` on CUDA with the NCCL backend: run as `torchrun --nproc_per_node N tools/ddp_gpu_check.py`.

N is at most the number of GPUs (NCCL allows one process per GPU). Each process trains a small MLP on random data for a
few steps with `DeviceCallback` + `DistributedCallback` and checks: the backend is NCCL, the model is wrapped in DDP on
GPU `LOCAL_RANK` during fit and unwrapped after, the epoch figures are all-reduced (the sample count is the whole data
set), and the weights are the same on every process. Prints one line per rank; exits non-zero on any failure.
Not part of the test suite (it needs GPUs); the CPU tests live in nbs/09e_distributed.ipynb.
"""
import os, torch
from torch import nn
import torch.nn.functional as F
import torch.distributed as dist
from minifast.data import Dataset, get_dls
from minifast.learner import Learner, AvgStatsCallback, Callback
from minifast.data import DataBunch
from minifast.losses import accuracy
from minifast.callbacks import DeviceCallback
from minifast.distrib import DistributedCallback, distributed, torchrun_env

class Check(Callback):
    "Records, during training, the model's type and device and the process group's backend."
    def before_train(self):
        m = self.learn.model
        self.seen = (type(m).__name__, str(next(m.parameters()).device), dist.get_backend(), getattr(m, 'device_ids', None))

def main():
    env = torchrun_env()
    assert env is not None, "run me with torchrun"
    assert torch.cuda.is_available(), "no CUDA device"
    with distributed():
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(1000, 20, generator=g), torch.randint(0, 4, (1000,), generator=g)
        data = DataBunch(*get_dls(Dataset(x[:800], y[:800]), Dataset(x[800:], y[800:]), bs=64 * env.world_size), c_in=20, c_out=4)
        torch.manual_seed(env.rank)   # different on purpose: DDP broadcasts rank 0's weights
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
        check, avs = Check(), AvgStatsCallback([accuracy], verbose=False)
        learn = Learner(model, data, F.cross_entropy, lr=0.1, cbs=[DeviceCallback(), avs, check, DistributedCallback()])
        learn.fit(2)
        ddp_type, device, backend, device_ids = check.seen
        assert (ddp_type, device, backend, device_ids) == ('DistributedDataParallel', f'cuda:{env.local_rank}', 'nccl', [env.local_rank]), check.seen
        assert type(learn.model).__name__ == 'Sequential'
        assert (avs.train_stats.count, avs.valid_stats.count) == (800, 200), (avs.train_stats.count, avs.valid_stats.count)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(env.world_size)]
        dist.all_gather(gathered, flat)
        assert all(torch.equal(gathered[0], o) for o in gathered), "weights differ between processes"
        print(f"rank {env.rank}/{env.world_size}: OK on {device} with {backend}; {avs.history[-1]}", flush=True)

if __name__ == '__main__': main()
