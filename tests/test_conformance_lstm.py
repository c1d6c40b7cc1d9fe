"""Conformance of minifast's LSTM with PyTorch's, over a grid of inputs (notebook 12a_awd_lstm links here).

Stacks of one to three `LSTMLayer`s (each an `LSTMCell` looped over time) against `nn.LSTM(num_layers=n,
batch_first=True)` with the same weights; `LSTMCell` against `nn.LSTMCell`: batch sizes 1, 0 and 4, sequence lengths
1, 2 and 9, unbatched inputs, float32 and float64, with and without an initial state; outputs, final states and the
gradients of the input, the initial state and every weight. Bad inputs must raise the kind of error PyTorch raises.
The deliberate differences are pinned; the last test runs each checker on a broken cell and asserts that it fails.
"""
import pytest, torch
from torch import nn
from _conformance import assert_agrees, assert_raises_like, assert_catches, call
from minifast.awd_lstm import LSTMCell, LSTMLayer

torch.set_num_threads(1)
NI, NH = 5, 6


def stack_like(n_layers, dtype, cell_cls=LSTMCell):
    "An `nn.LSTM` of `n_layers` and a list of our `LSTMLayer`s holding the same weights."
    torch.manual_seed(0)
    ref = nn.LSTM(NI, NH, n_layers, batch_first=True).to(dtype)
    layers = []
    for l in range(n_layers):
        cell = cell_cls(NI if l == 0 else NH, NH).to(dtype)
        with torch.no_grad():
            cell.ih.weight.copy_(getattr(ref, f'weight_ih_l{l}')); cell.ih.bias.copy_(getattr(ref, f'bias_ih_l{l}'))
            cell.hh.weight.copy_(getattr(ref, f'weight_hh_l{l}')); cell.hh.bias.copy_(getattr(ref, f'bias_hh_l{l}'))
        layers.append(LSTMLayer(cell))
    return ref, layers


def run_stack(layers, x, state):
    "Our layers one after the other; returns the last outputs and the stacked final states, laid out as nn.LSTM's."
    hs, cs = [], []
    unbatched = x.dim() == 2
    for l, layer in enumerate(layers):
        st = None if state is None else (state[0][l], state[1][l])
        x, (h, c) = layer(x, st)
        hs.append(h); cs.append(c)
    return x, (torch.stack(hs), torch.stack(cs))


def weight_grads(ref, layers):
    ours = [g for layer in layers for g in (layer.cell.ih.weight.grad, layer.cell.ih.bias.grad,
                                            layer.cell.hh.weight.grad, layer.cell.hh.bias.grad)]
    names = ('weight_ih', 'bias_ih', 'weight_hh', 'bias_hh')
    theirs = [getattr(ref, f'{k}_l{l}').grad for l in range(len(layers)) for k in names]
    return ours, theirs


def check_lstm(n_layers, bs, seq_len, dtype, with_state, cell_cls=LSTMCell):
    "Outputs, final (h, c) and all gradients of our stack and nn.LSTM on one batch; bs=None is an unbatched sequence."
    ref, layers = stack_like(n_layers, dtype, cell_cls)
    g = torch.Generator().manual_seed(1)
    shape = (seq_len, NI) if bs is None else (bs, seq_len, NI)
    sshape = (n_layers, NH) if bs is None else (n_layers, bs, NH)
    x = torch.randn(shape, generator=g, dtype=dtype)
    st = tuple(torch.randn(sshape, generator=g, dtype=dtype) for _ in range(2)) if with_state else None
    xa, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa = tuple(s.clone().requires_grad_() for s in st) if with_state else None
    sr = tuple(s.clone().requires_grad_() for s in st) if with_state else None
    out_r, (h_r, c_r) = ref(xr, sr)
    out_a, (h_a, c_a) = call(run_stack, layers, xa, sa)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert_agrees((out_a, h_a, c_a), (out_r, h_r, c_r), tol=tol,
                  what=f'{n_layers} layers, bs {bs}, seq_len {seq_len}: output, h, c')
    w = [torch.randn(t.shape, generator=g, dtype=dtype) for t in (out_r, h_r, c_r)]
    torch.autograd.backward([out_r, h_r, c_r], w); torch.autograd.backward([out_a, h_a, c_a], w)
    ours, theirs = weight_grads(ref, layers)
    assert_agrees(ours, theirs, tol=tol * 10, what='weight gradients')
    assert_agrees(xa.grad, xr.grad, tol=tol * 10, what='input gradient')
    if with_state:
        assert_agrees((sa[0].grad, sa[1].grad), (sr[0].grad, sr[1].grad), tol=tol * 10, what='initial state gradients')


@pytest.mark.parametrize('with_state', [True, False], ids=['state', 'no state'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize('seq_len', [1, 2, 9])
@pytest.mark.parametrize('bs', [4, 1, 0, None], ids=['bs 4', 'bs 1', 'bs 0', 'unbatched'])
@pytest.mark.parametrize('n_layers', [1, 2, 3])
def test_lstm(n_layers, bs, seq_len, dtype, with_state):
    check_lstm(n_layers, bs, seq_len, dtype, with_state)


def check_cell(bs, dtype, with_state, cell_cls=LSTMCell):
    "One step of our cell against nn.LSTMCell with the same weights (bs=None: one unbatched sample)."
    torch.manual_seed(0)
    ref = nn.LSTMCell(NI, NH).to(dtype)
    ours = cell_cls(NI, NH).to(dtype)
    with torch.no_grad():
        ours.ih.weight.copy_(ref.weight_ih); ours.ih.bias.copy_(ref.bias_ih)
        ours.hh.weight.copy_(ref.weight_hh); ours.hh.bias.copy_(ref.bias_hh)
    g = torch.Generator().manual_seed(2)
    x = torch.randn((NI,) if bs is None else (bs, NI), generator=g, dtype=dtype)
    sshape = (NH,) if bs is None else (bs, NH)
    st = tuple(torch.randn(sshape, generator=g, dtype=dtype) for _ in range(2)) if with_state else None
    h_r, c_r = ref(x, st)
    out, (h_a, c_a) = call(ours, x, st)
    assert out is h_a
    assert_agrees((h_a, c_a), (h_r, c_r), tol=1e-5 if dtype == torch.float32 else 1e-12, what='LSTMCell h, c')


@pytest.mark.parametrize('with_state', [True, False], ids=['state', 'no state'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize('bs', [4, 1, 0, None], ids=['bs 4', 'bs 1', 'bs 0', 'unbatched'])
def test_cell(bs, dtype, with_state): check_cell(bs, dtype, with_state)


def invalid_cases():
    cell, rcell = LSTMCell(NI, NH), nn.LSTMCell(NI, NH)
    layer, rlayer = LSTMLayer(LSTMCell(NI, NH)), nn.LSTM(NI, NH, batch_first=True)
    z = lambda *s: torch.zeros(*s)
    return {
        'layer: sequence of length 0': (lambda: layer(z(2, 0, NI)), lambda: rlayer(z(2, 0, NI)), 'larger than 0'),
        'layer: 1-d input': (lambda: layer(z(NI)), lambda: rlayer(z(NI)), '2D or 3D'),
        'layer: 4-d input': (lambda: layer(z(2, 3, 4, NI)), lambda: rlayer(z(2, 3, 4, NI)), '2D or 3D'),
        'layer: wrong input size': (lambda: layer(z(2, 3, NI + 1)), lambda: rlayer(z(2, 3, NI + 1)), 'input_size'),
        'layer: state of another batch size': (lambda: layer(z(2, 3, NI), (z(1, NH), z(1, NH))),
                                               lambda: rlayer(z(2, 3, NI), (z(1, 1, NH), z(1, 1, NH))), '(2, 6)'),
        'cell: 3-d input': (lambda: cell(z(2, 3, NI)), lambda: rcell(z(2, 3, NI)), '1D or 2D'),
        'cell: wrong input size': (lambda: cell(z(2, NI + 1)), lambda: rcell(z(2, NI + 1)), 'input_size'),
        'cell: state of another batch size': (lambda: cell(z(3, NI), (z(1, NH), z(1, NH))),
                                              lambda: rcell(z(3, NI), (z(1, NH), z(1, NH))), 'shaped'),
        'cell: float64 input, float32 weights': (lambda: cell(z(2, NI).double()), lambda: rcell(z(2, NI).double()),
                                                 'dtype'),
    }


def check_invalid(name):
    ours, ref, match = invalid_cases()[name]
    assert_raises_like(ours, ref, match)


@pytest.mark.parametrize('name', list(invalid_cases()))
def test_invalid(name): check_invalid(name)


# ---------------------------------------------------------------- deliberate differences, pinned
def test_pinned_batch_first_one_layer_state():
    "Batch-first only; the layer's state is (h, c) of shape (bs, nh), nn.LSTM's has a leading num_layers axis."
    layer, ref = LSTMLayer(LSTMCell(NI, NH)), nn.LSTM(NI, NH)
    x = torch.randn(4, 3, NI)
    out, (h, c) = layer(x)
    assert out.shape == (4, 3, NH) and h.shape == (4, NH)
    out_r, (h_r, _) = ref(x)   # nn.LSTM's default reads (seq_len, bs, ni)
    assert out_r.shape == (4, 3, NH) and h_r.shape == (1, 3, NH)


def test_pinned_cell_returns_output_and_state():
    "The cell returns (h, (h, c)) so that LSTMLayer can loop over it; nn.LSTMCell returns (h, c)."
    res, ref = LSTMCell(NI, NH)(torch.randn(2, NI)), nn.LSTMCell(NI, NH)(torch.randn(2, NI))
    assert len(res) == 2 and isinstance(res[1], tuple) and res[0] is res[1][0]
    assert all(isinstance(t, torch.Tensor) for t in ref)


# ---------------------------------------------------------------- the checkers catch broken implementations
class SwappedGatesCell(LSTMCell):
    "Forget and input gates exchanged (a classic slip when reading chunk's output)."
    def forward(self, input, state=None):
        h, c = state if state is not None else (input.new_zeros(len(input), self.nh),) * 2
        f, i, g, o = (self.ih(input) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class DetachedStateCell(LSTMCell):
    "Truncates backpropagation at every step: the state is detached (the loss of gradient shows only in the gradients)."
    def forward(self, input, state=None):
        if state is not None: state = tuple(s.detach() for s in state)
        return super().forward(input, state)


class BroadcastingCell(LSTMCell):
    "The first version: no check of the state's shape, so a state of batch size 1 broadcasts silently."
    def forward(self, input, state=None):
        h, c = state
        i, f, g, o = (self.ih(input) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def test_checkers_catch_mutants():
    assert 'output, h, c' in assert_catches(check_lstm, 2, 4, 9, torch.float32, True, cell_cls=SwappedGatesCell)
    assert_catches(check_cell, 4, torch.float32, True, cell_cls=SwappedGatesCell)
    assert 'gradient' in assert_catches(check_lstm, 1, 4, 9, torch.float32, True, cell_cls=DetachedStateCell)
    broken = BroadcastingCell(NI, NH)
    x, st = torch.zeros(3, NI), (torch.zeros(1, NH),) * 2
    ref = nn.LSTMCell(NI, NH)
    assert 'no error' in assert_catches(lambda: assert_raises_like(lambda: broken(x, st), lambda: ref(x, st)))
