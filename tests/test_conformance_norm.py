"""Conformance of minifast's norm layers with PyTorch's, over a grid of inputs (notebook 07_batchnorm links here).

`BatchNorm`, `LayerNorm`, `InstanceNorm` and `GroupNorm` against `nn.BatchNorm1d/2d`, `nn.LayerNorm`,
`nn.InstanceNorm1d/2d(affine=True)` and `nn.GroupNorm`, with the same random scales and shifts: three training
steps on batches of different means and spreads, then eval; outputs, running averages and the gradients of the input
and of the parameters; (N, C), (N, C, L) and (N, C, H, W) inputs, contiguous, non-contiguous and channels_last;
float32, float64 and float16; batches of one and zero; one value per channel (which must raise where PyTorch raises);
a wrong number of channels or dimensions. `RunningBatchNorm` has no PyTorch counterpart: its first training batch
must give `nn.BatchNorm2d`'s training output. The deliberate differences are pinned; the last test runs each
checker on a broken variant and asserts that it fails.
"""
import copy, pytest, torch
from torch import nn
from _conformance import assert_agrees, assert_raises_like, assert_catches, call, TOL
from minifast.norm import BatchNorm, LayerNorm, InstanceNorm, GroupNorm, RunningBatchNorm

torch.set_num_threads(1)
C = 6
SHAPES = {'2d': (8, C), '3d': (4, C, 7), '4d': (4, C, 5, 5), '3d batch 1': (1, C, 7), '4d batch 1': (1, C, 3, 3)}
LAYOUTS = ['contiguous', 'non-contiguous', 'channels_last']
DTYPES = [torch.float32, torch.float64, torch.float16]


def batch(shape, layout, dtype, step=0):
    "A batch of `shape` with mean and spread changing with `step`, laid out in memory as `layout`."
    g = torch.Generator().manual_seed(step)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * (step + 1) + step).to(dtype)
    if layout == 'channels_last': x = x.to(memory_format=torch.channels_last)
    if layout == 'non-contiguous':  # every other element of a wider tensor: same shape and values, strided memory
        x = torch.empty(*shape[:-1], 2 * shape[-1], dtype=dtype)[..., ::2].copy_(x)
        assert not x.is_contiguous()
    return x


def pair(kind, shape, dtype, ours_cls=None, groups=2):
    "Our layer and PyTorch's for `kind`, with the same random affine parameters, in `dtype`."
    g = torch.Generator().manual_seed(42)
    w, b = torch.randn(C, generator=g) * 0.5 + 1, torch.randn(C, generator=g)
    if kind == 'batchnorm':
        ours, ref = (ours_cls or BatchNorm)(C), (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(C)
    elif kind == 'instancenorm':
        ref_cls = nn.InstanceNorm1d if len(shape) < 4 else nn.InstanceNorm2d
        ours, ref = (ours_cls or InstanceNorm)(C), ref_cls(C, affine=True)
    elif kind == 'groupnorm': ours, ref = (ours_cls or GroupNorm)(groups, C), nn.GroupNorm(groups, C)
    elif kind == 'layernorm':
        ours, ref = (ours_cls or LayerNorm)(), nn.LayerNorm(shape[1:])
        with torch.no_grad():
            ours.mult.fill_(1.3); ours.add.fill_(-0.2); ref.weight.fill_(1.3); ref.bias.fill_(-0.2)
        return ours.to(dtype), ref.to(dtype)
    with torch.no_grad():
        ref.weight.copy_(w); ref.bias.copy_(b)
        ours.mults.copy_(w.view_as(ours.mults)); ours.adds.copy_(b.view_as(ours.adds))
    return ours.to(dtype), ref.to(dtype)


def param_grads(m):
    "Gradients of the scale and shift, as flat per-channel tensors (or scalars for LayerNorm)."
    if isinstance(m, LayerNorm): return m.mult.grad, m.add.grad
    if isinstance(m, nn.LayerNorm): return m.weight.grad.sum(), m.bias.grad.sum()
    if hasattr(m, 'mults'): return m.mults.grad.flatten(), m.adds.grad.flatten()
    return m.weight.grad, m.bias.grad


def running_stats(m):
    if hasattr(m, 'means'): return m.means.flatten(), m.vars.flatten()
    return m.running_mean, m.running_var


def step_and_compare(ours, ref, x, what, stats=False):
    """One forward and backward through both layers on `x`: outputs, input gradients, parameter gradients (and running
    stats), with PyTorch's layer run in float64 as the exact reference."""
    exact_layer = copy.deepcopy(ref).double()
    xa, xr = (x.detach().clone().requires_grad_() for _ in range(2))
    xe = x.detach().double().requires_grad_()
    ye, yr, ya = exact_layer(xe), ref(xr), call(ours, xa)
    tol = 3 * TOL[x.dtype] if x.dtype == torch.float16 else None  # a normalised half value is rounded twice
    assert_agrees(ya, yr, exact=ye, tol=tol, what=f'{what} output')
    w = torch.randn(yr.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(x.dtype)
    (ye * w.double()).sum().backward(); (yr * w).sum().backward(); (ya * w).sum().backward()
    gtol = 1e-4 if x.dtype == torch.float32 else 0.05 if x.dtype == torch.float16 else None
    assert_agrees(xa.grad, xr.grad, exact=xe.grad, tol=gtol, what=f'{what} input gradient')
    assert_agrees(param_grads(ours), param_grads(ref), exact=param_grads(exact_layer), tol=gtol,
                  what=f'{what} scale and shift gradients')
    ours.zero_grad(); ref.zero_grad()
    if stats: assert_agrees(running_stats(ours), running_stats(ref), tol=tol, what=f'{what} running mean and variance')


def check_norm(kind, shape_name, layout, dtype, ours_cls=None, groups=2, n_steps=3):
    "Train-mode steps (with running statistics for batch norm), then eval, against PyTorch's layer."
    shape = SHAPES[shape_name]
    ours, ref = pair(kind, shape, dtype, ours_cls, groups)
    for step in range(n_steps):
        step_and_compare(ours, ref, batch(shape, layout, dtype, step), f'{kind} step {step}', stats=kind == 'batchnorm')
    ours.eval(); ref.eval()
    step_and_compare(ours, ref, batch(shape, layout, dtype, n_steps), f'{kind} eval')


def cases(kinds):
    for kind in kinds:
        for s in SHAPES:
            if kind == 'instancenorm' and s == '2d': continue   # no positions to normalise over
            for layout in LAYOUTS:
                if layout == 'channels_last' and not s.startswith('4d'): continue
                for dtype in DTYPES: yield kind, s, layout, dtype


@pytest.mark.parametrize('kind,shape_name,layout,dtype', list(cases(['batchnorm', 'layernorm', 'instancenorm'])),
                         ids=str)
def test_norm(kind, shape_name, layout, dtype): check_norm(kind, shape_name, layout, dtype)


@pytest.mark.parametrize('groups', [1, 2, C])
@pytest.mark.parametrize('kind,shape_name,layout,dtype', list(cases(['groupnorm'])), ids=str)
def test_groupnorm(kind, shape_name, layout, dtype, groups): check_norm(kind, shape_name, layout, dtype, groups=groups)


@pytest.mark.parametrize('mom', [0.1, 0.5, 1.])
def test_batchnorm_momentum(mom):
    ours, ref = BatchNorm(C, mom=mom), nn.BatchNorm2d(C, momentum=mom)
    for step in range(4):
        step_and_compare(ours, ref, batch((4, C, 3, 3), 'contiguous', torch.float32, step), f'mom={mom}', stats=True)


@pytest.mark.parametrize('shape', [(0, C), (0, C, 2, 2)], ids=str)
def test_batchnorm_empty_batch(shape):
    "An empty batch gives an empty output and leaves the running averages alone."
    ours, ref = pair('batchnorm', shape, torch.float32)
    step_and_compare(ours, ref, batch((4,) + shape[1:], 'contiguous', torch.float32), 'first batch', stats=True)
    x = torch.randn(shape)
    assert_agrees(ours(x), ref(x), what='empty batch output')
    assert_agrees(running_stats(ours), running_stats(ref), what='running stats after an empty batch')


# ---------------------------------------------------------------- one value per channel, and bad shapes
def invalid_cases():
    bn1, bn2 = nn.BatchNorm1d(C), nn.BatchNorm2d(C)
    in1, in2 = nn.InstanceNorm1d(C, affine=True), nn.InstanceNorm2d(C, affine=True)
    return {
        'batchnorm (1, C)': (BatchNorm(C), bn1, (1, C), 'more than 1 value per channel'),
        'batchnorm (1, C, 1)': (BatchNorm(C), bn1, (1, C, 1), 'more than 1 value per channel'),
        'batchnorm (1, C, 1, 1)': (BatchNorm(C), bn2, (1, C, 1, 1), 'more than 1 value per channel'),
        'instancenorm (N, C, 1)': (InstanceNorm(C), in1, (4, C, 1), 'more than 1 spatial element'),
        'instancenorm (N, C, 1, 1)': (InstanceNorm(C), in2, (4, C, 1, 1), 'more than 1 spatial element'),
        'instancenorm eval (N, C, 1, 1)': (InstanceNorm(C).eval(), nn.InstanceNorm2d(C, affine=True).eval(),
                                           (4, C, 1, 1), 'spatial'),
        'groupnorm (1, C, 1, 1), C groups': (GroupNorm(C, C), nn.GroupNorm(C, C), (1, C, 1, 1), 'more than 1 value'),
        'groupnorm (1, C), C groups': (GroupNorm(C, C), nn.GroupNorm(C, C), (1, C), 'more than 1 value'),
        'batchnorm wrong channels': (BatchNorm(C), bn2, (4, C + 1, 2, 2), f'{C} channels'),
        'instancenorm wrong channels': (InstanceNorm(C), in2, (4, C + 1, 2, 2), f'{C} channels'),
        'groupnorm wrong channels': (GroupNorm(2, C), nn.GroupNorm(2, C), (4, 2 * C, 2, 2), f'{C} channels'),
        'batchnorm 1-d input': (BatchNorm(C), bn1, (C,), '(N, C'),
        'instancenorm 2-d input': (InstanceNorm(C), in2, (4, C), '(N, C, L'),
        'groupnorm 1-d input': (GroupNorm(2, C), nn.GroupNorm(2, C), (C,), '(N, C'),
    }


def check_invalid(name, ours=None):
    o, ref, shape, match = invalid_cases()[name]
    x = torch.randn(shape)
    assert_raises_like(lambda: (ours or o)(x), lambda: ref(x), match)


@pytest.mark.parametrize('name', list(invalid_cases()))
def test_invalid(name): check_invalid(name)


@pytest.mark.parametrize('shape', [(1, C), (1, C, 1, 1)], ids=str)
def test_one_value_per_channel_in_eval(shape):
    "In eval mode batch norm uses its running averages: one sample is fine, as in PyTorch."
    ours, ref = pair('batchnorm', shape, torch.float32)
    step_and_compare(ours, ref, batch((4,) + shape[1:], 'contiguous', torch.float32), 'training batch', stats=True)
    ours.eval(); ref.eval()
    step_and_compare(ours, ref, torch.randn(shape), 'one sample in eval')


def test_groupnorm_single_values_accepted_like_torch():
    "PyTorch's GroupNorm raises only when one sample has one value per group; with two samples it returns the shift."
    ours, ref = pair('groupnorm', (2, C, 1, 1), torch.float32, groups=C)
    step_and_compare(ours, ref, torch.randn(2, C, 1, 1), 'two samples, one value per group')


# ---------------------------------------------------------------- RunningBatchNorm
def check_running_batchnorm(shape_name, layout, dtype, rbn_cls=RunningBatchNorm):
    "After one training batch the statistics are that batch's: training and eval outputs are BatchNorm's training ones."
    shape = SHAPES[shape_name]
    if shape[0] == 1 and len(shape) == 2: pytest.skip('one value per channel')
    x = batch(shape, layout, dtype) * 0.5  # spreads above the 0.01 variance clamp of the first 20 samples
    ours = rbn_cls(C).to(dtype)
    ref = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(C).to(dtype)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        ref.weight.copy_(torch.randn(C, generator=g)); ref.bias.copy_(torch.randn(C, generator=g))
        ours.mults.copy_(ref.weight.view_as(ours.mults)); ours.adds.copy_(ref.bias.view_as(ours.adds))
    step_and_compare(ours, ref, x, 'RunningBatchNorm first batch')
    ours.eval()
    assert_agrees(call(ours, x), ref(x), tol=1e-4 if dtype == torch.float32 else None,
                  what='RunningBatchNorm eval after one batch')


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('shape_name', list(SHAPES))
def test_running_batchnorm(shape_name, layout, dtype):
    if layout == 'channels_last' and not shape_name.startswith('4d'): pytest.skip('channels_last needs 4 dimensions')
    check_running_batchnorm(shape_name, layout, dtype)


def test_running_batchnorm_one_value_per_channel():
    "A first batch of one value per channel raises; once there are statistics, one value per channel is fine."
    rbn = RunningBatchNorm(C)
    with pytest.raises(ValueError, match='more than 1 value per channel'): rbn(torch.randn(1, C, 1, 1))
    rbn(torch.randn(8, C, 2, 2))
    out = rbn(torch.randn(1, C, 1, 1))
    assert out.shape == (1, C, 1, 1) and out.abs().sum() > 0
    assert rbn(torch.randn(0, C, 1, 1)).shape == (0, C, 1, 1)


# ---------------------------------------------------------------- deliberate differences, pinned
def test_pinned_layernorm_one_scale_and_shift():
    "The course's LayerNorm has one scale and one shift; PyTorch's has one per element of the normalised shape."
    assert [p.shape for p in LayerNorm().parameters()] == [torch.Size([]), torch.Size([])]
    assert nn.LayerNorm((C, 5, 5)).weight.shape == (C, 5, 5)


def test_pinned_instancenorm_3d_is_batched():
    "A 3-D input is (N, C, L) for minifast's InstanceNorm, as for nn.InstanceNorm1d; nn.InstanceNorm2d reads (C, H, W)."
    x = torch.randn(4, C, 7)
    assert_agrees(InstanceNorm(C)(x), nn.InstanceNorm1d(C, affine=True)(x))
    assert InstanceNorm(C)(x).shape == nn.InstanceNorm2d(4, affine=True)(x).shape   # same shape, other grouping
    assert not torch.allclose(InstanceNorm(C)(x), nn.InstanceNorm2d(4, affine=True)(x), atol=1e-3)


def test_pinned_batchnorm_takes_every_rank():
    "One BatchNorm class for (N, C), (N, C, L) and (N, C, H, W); torch's BatchNorm2d refuses a 2-D input."
    assert BatchNorm(C)(torch.randn(4, C)).shape == (4, C)
    with pytest.raises(ValueError): nn.BatchNorm2d(C)(torch.randn(4, C))


def test_pinned_state_dict_names():
    "Parameter and buffer names are the course's, so state dicts do not load into torch's layers."
    assert set(BatchNorm(C).state_dict()) == {'mults', 'adds', 'means', 'vars'}
    torch_names = {'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'}
    assert set(nn.BatchNorm2d(C).state_dict()) == torch_names


# ---------------------------------------------------------------- the checkers catch broken implementations
class BiasedRunningVarBatchNorm(BatchNorm):
    "Keeps the biased variance in its running average (the classic mistake)."
    def update_stats(self, x):
        dims = [0] + list(range(2, x.dim()))
        m, v = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        with torch.no_grad():
            self.means.lerp_(m.view_as(self.means), self.mom); self.vars.lerp_(v.view_as(self.vars), self.mom)
        return m, v


class SilentBatchNorm(BatchNorm):
    "Does not refuse one value per channel in training (the first version): returns the shift."
    def forward(self, x):
        if self.training and x.numel() == x.shape[1]: return x * 0 + self.adds.view(1, -1, *[1] * (x.dim() - 2))
        return super().forward(x)


class ViewGroupNorm(GroupNorm):
    "Gathers the groups with `view` (the first version): fails on channels_last inputs."
    def forward(self, x):
        n, c = x.shape[:2]
        g = x.view(n, self.n_groups, -1)
        m, v = g.mean(2, keepdim=True), g.var(2, keepdim=True, unbiased=False)
        return ((g - m) / (v + self.eps).sqrt()).view(x.shape) * self.mults.view(1, -1, *[1] * (x.dim() - 2)) \
            + self.adds.view(1, -1, *[1] * (x.dim() - 2))


class UnbiasedLayerNorm(LayerNorm):
    def forward(self, x):
        dims = tuple(range(1, x.dim()))
        return (x - x.mean(dims, keepdim=True)) / (x.var(dims, keepdim=True) + self.eps).sqrt() * self.mult + self.add


class ChannelMixingInstanceNorm(InstanceNorm):
    "Normalises over the channels too (that is layer norm)."
    def forward(self, x):
        dims = tuple(range(1, x.dim()))
        m, v = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - m) / (v + self.eps).sqrt() * self.mults.view(shape) + self.adds.view(shape)


class DetachedRunningBatchNorm(RunningBatchNorm):
    "Adds the current batch to its statistics without its gradient: the network no longer learns through them."
    def update_stats(self, x): return tuple(t.detach() for t in super().update_stats(x))


def test_checkers_catch_mutants():
    assert 'running mean and variance' in assert_catches(check_norm, 'batchnorm', '4d', 'contiguous', torch.float32,
                                                         ours_cls=BiasedRunningVarBatchNorm)
    assert 'no error' in assert_catches(check_invalid, 'batchnorm (1, C, 1, 1)', ours=SilentBatchNorm(C))
    assert 'raised RuntimeError' in assert_catches(check_norm, 'groupnorm', '4d', 'channels_last', torch.float32,
                                                   ours_cls=ViewGroupNorm)
    assert_catches(check_norm, 'layernorm', '3d', 'contiguous', torch.float32, ours_cls=UnbiasedLayerNorm)
    assert_catches(check_norm, 'instancenorm', '4d', 'contiguous', torch.float32, ours_cls=ChannelMixingInstanceNorm)
    assert_catches(check_running_batchnorm, '4d', 'contiguous', torch.float32, rbn_cls=DetachedRunningBatchNorm)
