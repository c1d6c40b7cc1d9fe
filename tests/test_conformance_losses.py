"""Conformance of minifast's losses with PyTorch's, over a grid of inputs (notebooks 03_minibatch_training and
10b_mixup_label_smoothing link here).

`logsumexp`, `log_softmax`, `nll`, `cross_entropy` and `LabelSmoothingCrossEntropy` against `torch.logsumexp`,
`F.log_softmax`, `F.nll_loss` and `F.cross_entropy(label_smoothing=...)`: every reduction; the (N, C), (N, C, d1),
(N, C, d1, d2) and unbatched (C,) layouts and a non-contiguous input; batches of 1 and 0; float32, float64,
float16 and bfloat16; ordinary, very confident, very large and huge logits and non-finite ones, comparing the error
against a float64 reference, not only finiteness; ignored targets, uint8 targets and class probabilities; values
and gradients; and invalid targets, which must raise the kind of error PyTorch raises. The last tests run each
checker on a deliberately broken implementation and assert that it fails; the deliberate differences are pinned.
"""
import pytest, torch
import torch.nn.functional as F
from torch import nn
from _conformance import assert_agrees, assert_raises_like, assert_grads_agree, assert_catches, error_of
from minifast import losses as L
from minifast.mixup import LabelSmoothingCrossEntropy

torch.set_num_threads(1)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
C = 5


def logits_of(shape, kind, dtype, seed=0, class_dim=-1):
    "Logits of `shape`: 'normal', 'confident' (one class 40 above), 'large' (around 1e4), 'huge', 'special' (inf, nan)."
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if kind == 'normal': x = x * 2
    elif kind == 'confident' and x.dim() and x.numel():
        last = x.movedim(class_dim, -1)
        idx = torch.randint(0, last.shape[-1], last.shape[:-1], generator=g).unsqueeze(-1)
        x = last.scatter_add(-1, idx, torch.full(idx.shape, 40., dtype=torch.float64)).movedim(-1, class_dim)
    elif kind == 'large': x = x * 3 + 1e4
    elif kind == 'huge': x = (x * 1e4).clamp(-6e4, 6e4)
    elif kind == 'special' and x.numel():
        flat = x.view(-1)
        flat[::3] = float('-inf'); flat[1::7] = float('inf'); flat[2::11] = float('nan')
    return x.to(dtype)


# ---------------------------------------------------------------- logsumexp and log_softmax
SHAPES_DIMS = [((6, C), -1), ((6, C), 0), ((1, C), -1), ((0, C), -1), ((6, 0), -1), ((C,), 0), ((3, C, 4), 1),
               ((3, C, 4), -1), ((), -1)]
KINDS = ['normal', 'confident', 'large', 'huge', 'special']


def check_logsumexp(shape, dim, kind, dtype, f=L.logsumexp):
    "`f(x, dim)` and `f(x, dim, keepdim=True)` agree with torch.logsumexp, as precisely; and their gradients."
    x = logits_of(shape, kind, dtype)
    for keepdim in (False, True):
        assert_agrees(f(x, dim, keepdim=keepdim), torch.logsumexp(x, dim, keepdim=keepdim),
                      exact=torch.logsumexp(x.double(), dim, keepdim=keepdim), what=f'logsumexp {kind}')
    if kind != 'special' and x.numel():
        assert_grads_agree(lambda x: f(x, dim), lambda x: torch.logsumexp(x, dim), [x],
                      what='logsumexp gradient')


def check_log_softmax(shape, dim, kind, dtype, f=L.log_softmax):
    "`f(x, dim)` agrees with F.log_softmax, as precisely; and its gradient."
    x = logits_of(shape, kind, dtype)
    assert_agrees(f(x, dim), F.log_softmax(x, dim), exact=F.log_softmax(x.double(), dim), what=f'log_softmax {kind}')
    if kind != 'special' and x.numel():
        assert_grads_agree(lambda x: f(x, dim), lambda x: F.log_softmax(x, dim), [x],
                      what='log_softmax gradient')


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('shape,dim', SHAPES_DIMS, ids=str)
def test_logsumexp(shape, dim, kind, dtype): check_logsumexp(shape, dim, kind, dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('shape,dim', SHAPES_DIMS, ids=str)
def test_log_softmax(shape, dim, kind, dtype): check_log_softmax(shape, dim, kind, dtype)


def test_log_softmax_non_contiguous():
    x = logits_of((C, 6), 'normal', torch.float32).t()
    assert not x.is_contiguous()
    assert_agrees(L.log_softmax(x, -1), F.log_softmax(x, -1))
    assert_agrees(L.logsumexp(x, 0), torch.logsumexp(x, 0))


# ---------------------------------------------------------------- nll and cross_entropy with class indices
# (name, logits shape); the classes are on dim 1, or dim 0 for the unbatched (C,)
LAYOUTS = [('N', (6, C)), ('batch 1', (1, C)), ('empty batch', (0, C)), ('unbatched', (C,)), ('N,C,d1', (3, C, 4)),
           ('N,C,d1,d2', (2, C, 3, 2))]
REDUCTIONS = ['mean', 'sum', 'none']


def targets_of(shape, targets='plain', seed=1):
    "Class indices for logits of `shape`; 'ignore' sets every other one to -100, 'uint8' makes them bytes."
    cdim = 1 if len(shape) > 1 else 0
    tshape = shape[:cdim] + shape[cdim + 1:]
    t = torch.randint(0, shape[cdim], tshape, generator=torch.Generator().manual_seed(seed))
    if targets == 'ignore' and t.numel(): t.view(-1)[::2] = -100
    if targets == 'uint8': t = t.to(torch.uint8)
    return t


def check_cross_entropy(layout, kind, dtype, reduction, targets, f=L.cross_entropy, g=L.nll):
    "cross_entropy and nll (on F.log_softmax's output) agree with F.cross_entropy and F.nll_loss, gradients included."
    shape = dict(LAYOUTS)[layout]
    x, t = logits_of(shape, kind, dtype, class_dim=1 if len(shape) > 1 else 0), targets_of(shape, targets)
    kw = dict(reduction=reduction)
    assert_agrees(f(x, t, **kw), F.cross_entropy(x, t, **kw), exact=F.cross_entropy(x.double(), t, **kw),
                  what=f'cross_entropy {layout} {kind}')
    if x.numel():
        assert_grads_agree(lambda x: f(x, t, **kw), lambda x: F.cross_entropy(x, t, **kw), [x],
                      what='cross_entropy gradient')
    lp = F.log_softmax(x, 1 if x.dim() > 1 else 0)
    assert_agrees(g(lp, t, **kw), F.nll_loss(lp, t, **kw), what=f'nll {layout}')


@pytest.mark.parametrize('targets', ['plain', 'ignore', 'uint8'])
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('kind', ['normal', 'confident', 'large', 'huge'])
@pytest.mark.parametrize('layout', [l for l, _ in LAYOUTS])
def test_cross_entropy(layout, kind, dtype, reduction, targets):
    if dtype == torch.bfloat16 and kind == 'large': pytest.skip("bfloat16 holds 1e4 only to steps of 64")
    if targets == 'uint8' and layout.startswith('N,C,d'): pytest.skip("uint8 targets: pinned below")
    check_cross_entropy(layout, kind, dtype, reduction, targets)


@pytest.mark.parametrize('ignore_index', [0, 2, -1, 7])
def test_ignore_index_values(ignore_index):
    "Any ignore_index, also one that is a valid class, or outside [0, C) (where that value is then no error)."
    x, t = logits_of((8, C), 'normal', torch.float32), targets_of((8, C))
    t[:3] = ignore_index
    for red in REDUCTIONS:
        kw = dict(reduction=red, ignore_index=ignore_index)
        assert_agrees(L.cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw))


def test_all_targets_ignored():
    x, t = logits_of((4, C), 'normal', torch.float32), torch.full((4,), -100)
    for red in REDUCTIONS: assert_agrees(L.cross_entropy(x, t, reduction=red), F.cross_entropy(x, t, reduction=red))


def test_non_contiguous_logits():
    x = logits_of((C, 6), 'normal', torch.float32).t()
    t = targets_of((6, C))
    assert_agrees(L.cross_entropy(x, t), F.cross_entropy(x, t))
    x4 = logits_of((2, C, 3, 4), 'normal', torch.float32).to(memory_format=torch.channels_last)
    t4 = targets_of((2, C, 3, 4))
    assert_agrees(L.cross_entropy(x4, t4, reduction='none'), F.cross_entropy(x4, t4, reduction='none'))


# ---------------------------------------------------------------- class probabilities
def check_probabilities(layout, dtype, reduction, f=L.cross_entropy):
    shape = dict(LAYOUTS)[layout]
    cdim = 1 if len(shape) > 1 else 0
    x = logits_of(shape, 'normal', dtype, class_dim=cdim)
    p = torch.softmax(logits_of(shape, 'normal', torch.float64, seed=3), cdim).to(dtype) if len(shape) else None
    kw = dict(reduction=reduction)
    assert_agrees(f(x, p, **kw), F.cross_entropy(x, p, **kw), exact=F.cross_entropy(x.double(), p.double(), **kw),
                  what=f'cross_entropy with probabilities, {layout}')
    if x.numel():
        assert_grads_agree(lambda x: f(x, p, **kw), lambda x: F.cross_entropy(x, p, **kw), [x])


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('layout', [l for l, _ in LAYOUTS])
def test_class_probabilities(layout, dtype, reduction): check_probabilities(layout, dtype, reduction)


# ---------------------------------------------------------------- invalid targets and arguments
def invalid_cases():
    x, t = logits_of((4, C), 'normal', torch.float32), torch.tensor([0, 1, 2, 1])
    x3, t3 = logits_of((2, C, 3), 'normal', torch.float32), targets_of((2, C, 3))
    return {
        'negative': (x, torch.tensor([0, -1, 2, 1]), {}, 'Target -1'),
        '>= C': (x, torch.tensor([0, C, 2, 1]), {}, f'Target {C}'),
        'negative, (N, C, d)': (x3, t3 - 3, {}, 'out of bounds'),
        'float': (x, t.float(), {}, 'float32'),
        'int32': (x, t.int(), {}, 'int32'),
        'bool': (x, t.bool(), {}, 'bool'),
        'batch mismatch': (x, t[:3], {}, '(4, 5)'),
        '(N, 1) target': (x, t[:, None], {}, '(4, 1)'),
        'spatial mismatch': (x3, t3[:, :2], {}, '(2, 3)'),
        'probabilities of another shape': (x, torch.rand(4, C - 1), {}, 'float32'),
        'scalar input': (torch.tensor(1.), torch.tensor(0.), {}, 'scalar'),
        'bad reduction': (x, t, dict(reduction='avg'), "'avg'"),
        '>= C with ignore_index': (x, torch.tensor([0, 1, 9, 1]), dict(ignore_index=2), 'Target 9'),
    }


def check_invalid(name, f=L.cross_entropy, g=L.nll):
    x, t, kw, match = invalid_cases()[name]
    assert_raises_like(lambda: f(x, t, **kw), lambda: F.cross_entropy(x, t, **kw), match)
    if not (t.is_floating_point() and t.shape == x.shape) and x.dim():
        lp = F.log_softmax(x, 1)
        assert_raises_like(lambda: g(lp, t, **kw), lambda: F.nll_loss(lp, t, **kw), match)


@pytest.mark.parametrize('name', list(invalid_cases()))
def test_invalid_targets(name): check_invalid(name)


# ---------------------------------------------------------------- label smoothing (10b)
LS_LAYOUTS = ['N', 'batch 1', 'empty batch', 'unbatched', 'N,C,d1,d2']


def check_label_smoothing(layout, eps, reduction, dtype, targets, loss_cls=LabelSmoothingCrossEntropy):
    shape = dict(LAYOUTS)[layout]
    cdim = 1 if len(shape) > 1 else 0
    x = logits_of(shape, 'normal', dtype, class_dim=cdim)
    t = (torch.softmax(logits_of(shape, 'normal', torch.float64, seed=3), cdim).to(dtype) if targets == 'probabilities'
         else targets_of(shape, targets))
    ours, ref = loss_cls(eps, reduction), nn.CrossEntropyLoss(label_smoothing=eps, reduction=reduction)
    exact = ref(x.double(), t.double() if t.is_floating_point() else t)
    assert_agrees(ours(x, t), ref(x, t), exact=exact, what=f'label smoothing {layout} eps={eps}')
    if x.numel(): assert_grads_agree(lambda x: ours(x, t), lambda x: ref(x, t), [x])


@pytest.mark.parametrize('targets', ['plain', 'ignore', 'probabilities'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16], ids=str)
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('eps', [0., 0.1, 0.5])
@pytest.mark.parametrize('layout', LS_LAYOUTS)
def test_label_smoothing(layout, eps, reduction, dtype, targets):
    check_label_smoothing(layout, eps, reduction, dtype, targets)


def test_label_smoothing_invalid_targets():
    ls = LabelSmoothingCrossEntropy(0.1)
    x = logits_of((4, C), 'normal', torch.float32)
    for t in (torch.tensor([0, -1, 2, 1]), torch.tensor([0, 1, 2, 1]).float(), torch.tensor([0, 1, 2])):
        assert_raises_like(lambda: ls(x, t), lambda: F.cross_entropy(x, t, label_smoothing=0.1))


# ---------------------------------------------------------------- deliberate differences, pinned
def test_pinned_integer_log_softmax():
    "F.log_softmax refuses integer tensors; minifast computes in floating point, as torch.logsumexp does for integers."
    x = torch.tensor([[1, 2, 3], [0, 0, 9]])
    assert isinstance(error_of(lambda: F.log_softmax(x, -1)), NotImplementedError)
    assert_agrees(L.log_softmax(x), F.log_softmax(x.float(), -1))
    assert_agrees(L.logsumexp(x), torch.logsumexp(x, -1))


def test_pinned_uint8_targets_in_every_layout():
    "PyTorch takes uint8 class indices for (N, C) and (C,), not for (N, C, d...); minifast takes them in every layout."
    x, t = logits_of((3, C, 4), 'normal', torch.float32), targets_of((3, C, 4))
    assert isinstance(error_of(lambda: F.cross_entropy(x, t.to(torch.uint8))), RuntimeError)
    for red in REDUCTIONS:
        assert_agrees(L.cross_entropy(x, t.to(torch.uint8), reduction=red), F.cross_entropy(x, t, reduction=red))


def test_nll_of_a_scalar():
    x, t = torch.tensor(1.), torch.tensor(0)
    assert_raises_like(lambda: L.nll(x, t), lambda: F.nll_loss(x, t), 'scalar')


def test_pinned_no_weight_or_label_smoothing_arguments():
    "Class weights are not part of the course, and label smoothing is its own loss (10b): passing them is an error."
    x, t = logits_of((4, C), 'normal', torch.float32), torch.tensor([0, 1, 2, 1])
    for kw in (dict(weight=torch.ones(C)), dict(label_smoothing=0.1)):
        with pytest.raises(TypeError): L.cross_entropy(x, t, **kw)


# ---------------------------------------------------------------- the checkers catch broken implementations
def naive_log_softmax(x, dim=-1): return x - L.logsumexp(x, dim, keepdim=True)   # the course's first version


def unshifted_logsumexp(x, dim=-1, keepdim=False): return x.exp().sum(dim, keepdim=keepdim).log()


def wrapping_nll(log_probs, target, reduction='mean', ignore_index=-100):
    "The course's first nll: plain indexing reads a target of -1 as the last class."
    return -log_probs[torch.arange(len(target)), target].mean()


def unmasked_cross_entropy(logits, target, reduction='mean', ignore_index=-100):
    "Averages over every target, ignored ones included (as 0)."
    lp = L.log_softmax(logits, 1 if logits.dim() > 1 else 0)
    return L._reduce(L.nll(lp, target, 'none', ignore_index), reduction)


class OtherClassesSmoothing(LabelSmoothingCrossEntropy):
    "The other common definition: eps spread over the c-1 wrong classes."
    def forward(self, output, target):
        dim = 1 if output.dim() > 1 else 0
        c, lp = output.size(dim), F.log_softmax(output.float(), dim)
        if target.is_floating_point(): return super().forward(output, target)
        keep = target != -100
        onehot = F.one_hot(torch.where(keep, target, 0), c).movedim(-1, dim).to(lp.dtype)
        targ = onehot * (1 - self.eps) + (1 - onehot) * self.eps / (c - 1)
        return L._reduce(torch.where(keep, -(targ * lp).sum(dim), 0.), self.reduction, keep).to(output.dtype)


def test_checkers_catch_mutants():
    msgs = [
        assert_catches(check_log_softmax, (6, C), -1, 'large', torch.float32, f=naive_log_softmax),
        assert_catches(check_logsumexp, (6, C), -1, 'large', torch.float32, f=unshifted_logsumexp),
        assert_catches(check_log_softmax, (6, C), -1, 'large', torch.float16, f=naive_log_softmax),
        assert_catches(check_invalid, 'negative', g=wrapping_nll,
                       f=lambda x, t, **kw: wrapping_nll(F.log_softmax(x, 1), t)),
        assert_catches(check_cross_entropy, 'N', 'normal', torch.float32, 'mean', 'ignore', f=unmasked_cross_entropy),
        assert_catches(check_label_smoothing, 'N', 0.1, 'mean', torch.float32, 'plain', loss_cls=OtherClassesSmoothing),
    ]
    assert 'less precise than PyTorch' in msgs[0] or 'differs from PyTorch' in msgs[0]
    assert 'infinities' in msgs[1]
    assert 'no error' in msgs[3]
