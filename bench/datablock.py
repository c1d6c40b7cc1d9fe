"""Images per second through minifast's data block pipeline vs plain PIL + torch DataLoader.

Both sides do the same work per image: open and decode the JPEG, convert to RGB, resize to SIZE x SIZE
(bilinear), turn into a float tensor in [0, 1] (channels first), and collate batches of BS with the int labels,
through a shuffled `torch.utils.data.DataLoader` with `num_workers` 0 and 2. The reference uses no
torchvision and no minifast: a 15-line Dataset class. Runs alternate (minifast, reference; order swapped
every repeat) after a warm-up that also fills the OS file cache; we report medians and their ratio
(> 1: minifast is faster).

Run: MINIFAST_DATA=/work/shared/data .venv/bin/python bench/datablock.py [n_images] [repeats]
"""
import os, sys, time, statistics
from functools import partial
from pathlib import Path
import numpy as np
import PIL.Image
import torch
from torch.utils.data import Dataset, DataLoader
import _common as C

from minifast.datasets import untar_data
from minifast.datablock import (ImageList, LabeledData, CategoryProcessor, parent_labeler, make_rgb, ResizeFixed,
                                to_byte_tensor, to_float_tensor, get_dataloaders, image_extensions, get_files)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1280
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SIZE, BS = 64, 64

path = untar_data('imagenette-sample')
# Every class, not just the first ones: take files spread across the whole sorted list.
all_fns = get_files(path/'train', image_extensions, recurse=True)
fns = all_fns[::max(1, len(all_fns) // N)][:N]

def minifast_dl(num_workers):
    il = ImageList(fns, path, tfms=[make_rgb, ResizeFixed(SIZE), to_byte_tensor, to_float_tensor])
    ll = LabeledData.label_by_func(il, parent_labeler, proc_y=CategoryProcessor())
    return get_dataloaders(ll, ll, BS, num_workers=num_workers)[0]

_BILINEAR = getattr(PIL.Image, 'Resampling', PIL.Image).BILINEAR

class PlainImageDataset(Dataset):
    def __init__(self, fns):
        self.fns = list(fns)
        classes = sorted({Path(f).parent.name for f in self.fns})
        self.labels = [classes.index(Path(f).parent.name) for f in self.fns]
    def __len__(self): return len(self.fns)
    def __getitem__(self, i):
        with PIL.Image.open(self.fns[i]) as im:
            im = im.convert('RGB').resize((SIZE, SIZE), _BILINEAR)
        x = torch.from_numpy(np.array(im)).permute(2, 0, 1).float().div_(255.)
        return x, self.labels[i]

def reference_dl(num_workers):
    return DataLoader(PlainImageDataset(fns), BS, shuffle=True, num_workers=num_workers)

def images_per_sec(make_dl, num_workers):
    "One full pass (including worker start-up, as in a real epoch) over the images."
    t0 = time.perf_counter()
    n = 0
    for xb, yb in make_dl(num_workers):
        assert xb.shape[1:] == (3, SIZE, SIZE) and xb.dtype == torch.float32 and yb.dtype == torch.int64
        n += len(xb)
    assert n == len(fns)
    return n / (time.perf_counter() - t0)

def main():
    print(f"{len(fns)} Imagenette-sample JPEGs (224x224) -> {SIZE}x{SIZE} float batches of {BS}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; {REPEATS} repeats")
    # Same pixels from both pipelines (bilinear resize in PIL on both sides).
    a = minifast_dl(0).dataset[0][0]
    b = PlainImageDataset(fns)[0][0]
    assert torch.equal(a, b), "the two pipelines disagree"
    sides = {'minifast': minifast_dl, 'reference': reference_dl}
    for nw in (0, 2):
        for f in sides.values(): images_per_sec(f, nw)   # warm-up (file cache, worker import)
    res = {(s, nw): [] for s in sides for nw in (0, 2)}
    for r in range(REPEATS):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for nw in (0, 2):
            for s in order: res[(s, nw)].append(images_per_sec(sides[s], nw))
    print(f"{'num_workers':>11} {'minifast img/s':>15} {'reference img/s':>16} {'ratio':>6}")
    for nw in (0, 2):
        m, ref = statistics.median(res[('minifast', nw)]), statistics.median(res[('reference', nw)])
        print(f"{nw:>11} {m:>15.0f} {ref:>16.0f} {m / ref:>6.2f}")
        C.record(f'Image pipeline, {nw} workers', 'minifast data block (ImageList, labels, transforms, get_dataloaders) vs plain PIL + torch DataLoader',
                 f"{len(fns)} Imagenette-sample JPEGs -> {SIZE}x{SIZE} float batches of {BS}, num_workers {nw}",
                 f"{m:.0f} img/s", {'plain PIL + DataLoader': f"{ref:.0f} img/s"}, {'minifast/plain (speed)': m / ref},
                 'none (context)', None, note=f"median of {REPEATS} alternating passes; speed ratio > 1: minifast faster")

if __name__ == '__main__': main()
