"""Tokenise and numericalise the 50k labelled aclImdb reviews with minifast.text, and save them as compact token ids
(uint16 .npy + lengths/labels) for `train_from_ids.py`. Run on a machine with spaCy; the ids then travel to a GPU
machine that may lack spaCy. The vocabulary comes from the 25k training reviews only.

Usage: python tools/ulmfit_full/prep_ids.py OUT_DIR [PATH/TO/aclImdb_labelled.tgz]"""
import json, time, sys, torch
import numpy as np
from pathlib import Path
from minifast.text import TokenizeProcessor, NumericalizeProcessor, text_of
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
from minifast.datasets import untar_data
# the archive from minifast.datasets' search path (MINIFAST_DATA, the cache, or a download), unless given
root = untar_data(sys.argv[2] if len(sys.argv) > 2 else 'aclImdb_labelled')
base = root/'aclImdb' if (root/'aclImdb').is_dir() else root
t0 = time.time()
tok = TokenizeProcessor(max_workers=2, progress=False)
num = NumericalizeProcessor(max_vocab=60000, min_freq=2)
split_files = {s: sorted((base/s).glob('*/*.txt')) for s in ('train', 'test')}
toks = {s: tok([text_of(f) for f in fs]) for s, fs in split_files.items()}
print(f'tokenised {sum(map(len, split_files.values()))} reviews in {time.time()-t0:.0f}s', flush=True)
ids = {s: num(toks[s]) if s == 'train' else [num.proc1(t) for t in toks[s]] for s in ('train', 'test')}
for s, fs in split_files.items():
    lens = torch.tensor([len(i) for i in ids[s]], dtype=torch.int32)
    assert len(num.vocab) < 65536
    np.save(out/f'{s}_ids.npy', np.array([x for i in ids[s] for x in i], dtype=np.uint16))
    labels = torch.tensor([0 if f.parent.name == 'neg' else 1 for f in fs])
    torch.save({'lens': lens, 'labels': labels}, out/f'{s}.pt')
json.dump(num.vocab, open(out/'vocab.json', 'w'))
print('vocab', len(num.vocab), 'tokens', {s: sum(map(len, ids[s])) for s in ids}, 'time', time.time()-t0)
