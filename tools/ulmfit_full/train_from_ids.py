"""Full-size ULMFiT on the 50k labelled IMDB reviews, from token ids prepared on the CPU machine (spaCy is not
installed on the GPU machine). Stage 1: language model on train+test texts (no labels, 10% of documents held out),
for `--lm_budget` seconds (the one-cycle schedule is stretched to end on time). Stage 2: classifier on the 25k
training reviews with gradual unfreezing (one epoch per stage), accuracy on the 25k test reviews.

Usage: python tools/ulmfit_full/train_from_ids.py --data IDS_DIR --out OUT_DIR [--lm_budget 190 --clas_budget 250 --bs 128]
(with a spaCy install on the GPU machine, `minifast.ulmfit.ulmfit_imdb_full()` does the same from the raw reviews)."""
import sys, json, time, argparse, numpy as np, torch
from pathlib import Path
from minifast.datablock import ItemList, SplitData, label_by_func
from minifast.text import lm_databunchify
from minifast.lm import pretrain_lm

p = argparse.ArgumentParser()
p.add_argument('--data', required=True, help='folder written by prep_ids.py'); p.add_argument('--out', default='/tmp/ulmfit')
p.add_argument('--lm_budget', type=float, default=200); p.add_argument('--lm_epochs', type=int, default=4)
p.add_argument('--clas_budget', type=float, default=200); p.add_argument('--bs', type=int, default=128)
p.add_argument('--small', action='store_true', help='tiny CPU smoke test')
p.add_argument('--stage', default='both')
a = p.parse_args()
torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
d = Path(a.data)
vocab = json.load(open(d/'vocab.json'))
def docs(split):
    ids = torch.from_numpy(np.load(d/f'{split}_ids.npy').astype(np.int64))
    meta = torch.load(d/f'{split}.pt')
    return list(torch.split(ids, meta['lens'].tolist())), meta['labels']
t0 = time.time()
tr, ytr = docs('train'); te, yte = docs('test')
if a.small: tr, ytr, te, yte = tr[:300], ytr[:300], te[:200], yte[:200]
print(f"loaded {len(tr)}+{len(te)} docs, vocab {len(vocab)} in {time.time()-t0:.0f}s", flush=True)
res = {}
if a.stage in ('both', 'lm'):
    allt = tr + te
    perm = torch.randperm(len(allt), generator=torch.Generator().manual_seed(42)).tolist()
    nv = len(allt) // 10
    sd = SplitData(ItemList([allt[i] for i in perm[nv:]]), ItemList([allt[i] for i in perm[:nv]]))
    ll = label_by_func(sd, lambda o: 0)
    bptt = 70
    data = lm_databunchify(ll, bs=a.bs, bptt=bptt)
    data.vocab, data.lm_split = vocab, ll
    kw = dict(emb_sz=400, n_hid=1152, n_layers=3) if not a.small else dict(emb_sz=32, n_hid=64, n_layers=2)
    r = pretrain_lm('aclImdb (50k labelled, token ids)', dest=Path(a.out)/'lm', data=data, epochs=a.lm_epochs, bs=a.bs, bptt=bptt,
                    lr=3e-3 * a.bs / 64, drop_mult=0.5, time_budget=a.lm_budget, device='cuda' if torch.cuda.is_available() else 'cpu', **kw)
    res['lm'] = {k: v for k, v in r.items() if isinstance(v, (int, float, str))}
    print('LM', res['lm'], flush=True)
    json.dump(res, open(Path(a.out)/'results_lm.json', 'w'), indent=1, default=str)
if a.stage in ('both', 'clas'):
    from minifast.datablock import CategoryProcessor
    from minifast.text import clas_databunchify
    from minifast.learner import Callback, CancelEpochException, CancelTrainException
    from minifast.lm import load_lm_info
    from minifast.text_classifier import text_classifier_learner, fit_gradual, majority_baseline
    class Deadline(Callback):
        "Safety net for the 10-minute call: past `t_end`, cut the training pass, validate once, then stop."
        def __init__(self, t_end): self.t_end, self.validated = t_end, False
        def before_batch(self):
            if self.learn.in_train and time.time() > self.t_end: raise CancelEpochException()
        def before_validate(self):
            if time.time() > self.t_end:
                if self.validated: raise CancelTrainException()
                self.validated = True; print('deadline reached: validating once more and stopping', flush=True)
    t1 = time.time()
    lab = {id(t): int(y) for t, y in zip(tr + te, torch.cat([ytr, yte]).tolist())}
    ll = label_by_func(SplitData(ItemList(tr), ItemList(te)), lambda t: lab[id(t)], proc_y=CategoryProcessor())
    data = clas_databunchify(ll, bs=a.bs // 2, pad_idx=1, pad_first=True)
    data.vocab, data.classes, data.clas_split = vocab, ['neg', 'pos'], ll
    torch.manual_seed(42)
    lm = load_lm_info(Path(a.out)/'lm')
    learn = text_classifier_learner(data, lm=lm, drop_mult=0.5, device='cuda' if torch.cuda.is_available() else 'cpu')
    hist = fit_gradual(learn, epochs=(1, 1, 1, 1), lrs=(2e-2, 1e-2, 5e-3, 2e-3), cbs=[Deadline(t1 + a.clas_budget)])
    res['clas'] = dict(test_accuracy=hist[-1]['valid_accuracy'], majority=majority_baseline(data), seconds=time.time() - t1,
                       history=hist, n_train=len(tr), n_test=len(te), device=str(next(learn.model.parameters()).device),
                       gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')
    print('CLAS', {k: v for k, v in res['clas'].items() if k != 'history'}, flush=True)
    json.dump(res, open(Path(a.out)/'results.json', 'w'), indent=1, default=str)
