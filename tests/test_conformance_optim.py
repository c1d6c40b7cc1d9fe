"""Conformance of minifast's optimizers with PyTorch's, over a grid of inputs (notebook 09_optimizers links here).

SGD, SGD with momentum, Adam and AdamW (L2 and decoupled weight decay) against `torch.optim.SGD`, `Adam` and `AdamW`,
and LAMB against a reference written from the paper: three param groups with different learning rates, weight
decays and momentums, a parameter that never gets a gradient, a frozen one, one that gets a gradient every other
step; float32, float64 and complex64 parameters; the per-tensor loop and the vectorised path; the parameters and
their gradients after every step. Then `state_dict` round trips through `torch.save` in the middle of a run, deep
copies and pickles, `step(closure)`, torch's learning-rate schedulers driving our optimizers, sparse gradients and
bad arguments. The deliberate differences are pinned; the last test runs each checker on a broken variant.
"""
import copy, io, pickle, warnings
import pytest, torch
from torch import nn
from _conformance import assert_agrees, assert_raises_like, assert_catches, call, error_of
from minifast.optimizer import (Optimizer, StatefulOptimizer, sgd_opt, adam_opt, lamb_opt, sgd_step, l2_reg, adam_step,
                                lamb_step, weight_decay, AverageGrad, AverageSqrGrad, StepCount)

torch.set_num_threads(1)
N_STEPS = 6


class LambRef(torch.optim.Optimizer):
    "LAMB from the paper (You et al., Algorithm 2): trust ratio min(||x|| / ||r + wd x||, 10); complex as real pairs."
    def __init__(self, params, lr, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            b1, b2 = g['betas']
            for p in g['params']:
                if p.grad is None: continue
                x, grad = (torch.view_as_real(p), torch.view_as_real(p.grad)) if p.is_complex() else (p, p.grad)
                s = self.state[p]
                if not s: s.update(t=0, m=torch.zeros_like(x), v=torch.zeros_like(x))
                s['t'] += 1
                s['m'] = b1 * s['m'] + (1 - b1) * grad
                s['v'] = b2 * s['v'] + (1 - b2) * grad * grad
                m_hat, v_hat = s['m'] / (1 - b1 ** s['t']), s['v'] / (1 - b2 ** s['t'])
                r = m_hat / (v_hat.sqrt() + g['eps']) + g['weight_decay'] * x
                xn, rn = x.norm().item(), r.norm().item()
                x.sub_(g['lr'] * (min(xn / rn, 10.) if xn > 0 and rn > 0 else 1.) * r)


# name -> (our factory, torch's factory, whether momentum and sqr_mom are per-group hyper-parameters)
def configs():
    return {
        'sgd, L2': (lambda gs, **kw: sgd_opt(decouple_wd=False, **kw)(gs, lr=0.1),
                    lambda gs: torch.optim.SGD(gs, lr=0.1)),
        'sgd, decoupled': (lambda gs, **kw: sgd_opt(**kw)(gs, lr=0.1), lambda gs: torch.optim.SGD(gs, lr=0.1)),
        'momentum, L2': (lambda gs, **kw: sgd_opt(mom=0.9, decouple_wd=False, **kw)(gs, lr=0.1),
                         lambda gs: torch.optim.SGD(gs, lr=0.1, momentum=0.9)),
        'adam, L2': (lambda gs, **kw: adam_opt(decouple_wd=False, **kw)(gs, lr=1e-2),
                     lambda gs: torch.optim.Adam(gs, lr=1e-2, eps=1e-5)),
        'adamw': (lambda gs, **kw: adam_opt(**kw)(gs, lr=1e-2), lambda gs: torch.optim.AdamW(gs, lr=1e-2, eps=1e-5)),
        'lamb': (lambda gs, **kw: lamb_opt(**kw)(gs, lr=1e-2), lambda gs: LambRef(gs, lr=1e-2)),
    }


class Problem:
    """A small regression with raw parameter tensors: W1, b1, W2 trained; U never used (no gradient); frozen used but
    requires_grad=False; sometimes used only on odd steps. Real or complex (`dtype`)."""
    names = ['W1', 'b1', 'W2', 'U', 'frozen', 'sometimes']

    def __init__(self, dtype, seed=0):
        g = torch.Generator().manual_seed(seed)
        n = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
        r = lambda *s: (torch.complex(n(*s), n(*s)) if dtype.is_complex else n(*s)).to(dtype)
        self.dtype = dtype
        self.init = {'W1': r(4, 3) * 0.5, 'b1': r(3) * 0, 'W2': r(3, 2), 'U': r(2, 2), 'frozen': r(3),
                     'sometimes': r(3)}
        self.xs, self.ys = [r(8, 4) for _ in range(N_STEPS)], [r(8, 2) for _ in range(N_STEPS)]

    def params(self):
        return {k: v.clone().requires_grad_(k != 'frozen') for k, v in self.init.items()}

    def loss(self, ps, step):
        h = self.xs[step] @ ps['W1'] + ps['b1'] + 0.1 * ps['frozen']
        if step % 2: h = h + ps['sometimes']
        h = torch.tanh(h) if not self.dtype.is_complex else h * torch.sigmoid(h.abs())
        return ((h @ ps['W2'] - self.ys[step]).abs() ** 2).mean()


def groups(ps, style, name):
    "Three groups with their own lr, weight decay and momentums, keyed the minifast way or the torch way."
    spec = [(['W1', 'U'], 1., 1e-2, 0.9, 0.99), (['b1', 'frozen', 'sometimes'], 0.5, 0., 0.8, 0.999),
            (['W2'], 2., 1e-1, 0.5, 0.9)]
    lr = 0.1 if name.startswith(('sgd', 'momentum')) else 1e-2
    res = []
    for keys, f, wd, mom, sqr in spec:
        g = {'params': [ps[k] for k in keys], 'lr': lr * f}
        if style == 'ours': g.update(wd=wd, mom=mom, sqr_mom=sqr)
        else:
            g['weight_decay'] = wd
            if name.startswith('momentum'): g['momentum'] = mom
            if name.startswith(('adam', 'lamb')): g['betas'] = (mom, sqr)
        res.append(g)
    return res


def train(opt, prob, ps, steps, closure=False, after=None):
    "Take `steps` (a range of step numbers) with `opt` on `prob`; `after(step)` is called after each step."
    for i in steps:
        def closure_fn():
            opt.zero_grad()
            loss = prob.loss(ps, i)
            loss.backward()
            return loss
        if closure: loss = opt.step(closure_fn)
        else:
            loss = closure_fn(); opt.step()
        if after: after(i, loss)


def params_and_grads(ps):
    return [ps[k].detach() for k in Problem.names] + [ps[k].grad for k in Problem.names if ps[k].grad is not None]


def check_optimizer(name, dtype, foreach=None, make_ours=None):
    "N_STEPS steps of ours and of torch's optimizer (or the LAMB reference): parameters and gradients after each."
    ours_f, torch_f = configs()[name]
    prob = Problem(dtype)
    pa, pt = prob.params(), prob.params()
    oa = (make_ours or ours_f)(groups(pa, 'ours', name), foreach=foreach)
    ot = torch_f(groups(pt, 'torch', name))
    for i in range(N_STEPS):
        train(ot, prob, pt, [i]); call(train, oa, prob, pa, [i])
        assert_agrees(params_and_grads(pa), params_and_grads(pt), tol=1e-5 if dtype != torch.float64 else 1e-10,
                      what=f'{name} step {i}: parameters and gradients')
    assert pa['U'].grad is None and not oa.state.get(pa['U']), "a parameter without gradient must get no state"
    assert not (pa['frozen'] - prob.init['frozen']).abs().max() > 0, "a frozen parameter moved"
    assert (pa['W1'] - prob.init['W1']).abs().max() > 1e-3, "the optimizer barely moved: this comparison tests nothing"


DTYPES = [torch.float32, torch.float64, torch.complex64]


@pytest.mark.parametrize('foreach', [None, False], ids=['foreach', 'loop'])
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('name', list(configs()))
def test_optimizer(name, dtype, foreach): check_optimizer(name, dtype, foreach)


# ---------------------------------------------------------------- state dicts, copies, pickles, closures
def check_roundtrip(name, how, make_ours=None):
    """3 steps, then our optimizer is saved and restored (`how`: 'state_dict' through torch.save/torch.load into a fresh
    optimizer built with other learning rates, 'deepcopy', 'pickle'), then 3 more steps: the same as torch's
    uninterrupted run."""
    ours_f, torch_f = configs()[name]
    prob = Problem(torch.float32)
    pa, pt = prob.params(), prob.params()
    make = make_ours or ours_f
    oa, ot = make(groups(pa, 'ours', name)), torch_f(groups(pt, 'torch', name))
    half = range(N_STEPS // 2)
    train(ot, prob, pt, range(N_STEPS)); train(oa, prob, pa, half)
    if how == 'state_dict':
        buf = io.BytesIO(); torch.save(oa.state_dict(), buf); buf.seek(0)
        pb = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in pa.items()}
        gs = groups(pb, 'ours', name)
        for g in gs: g['lr'] *= 10   # load_state_dict must restore the saved learning rates
        ob = make(gs)
        call(ob.load_state_dict, torch.load(buf, weights_only=True))
    else:
        ob = call(copy.deepcopy, oa) if how == 'deepcopy' else call(lambda: pickle.loads(pickle.dumps(oa)))
        # the copy holds copies of the parameters, in the same order as in the groups
        flat = [p for g in ob.param_groups for p in g['params']]
        order = ['W1', 'U', 'b1', 'frozen', 'sometimes', 'W2']
        pb = dict(zip(order, flat))
        assert all(pb[k] is not pa[k] and torch.equal(pb[k], pa[k]) for k in order)
    call(train, ob, prob, pb, range(N_STEPS // 2, N_STEPS))
    assert_agrees(params_and_grads(pb), params_and_grads(pt), tol=1e-5, what=f'{name} after a {how} round trip')


@pytest.mark.parametrize('how', ['state_dict', 'deepcopy', 'pickle'])
@pytest.mark.parametrize('name', list(configs()))
def test_roundtrip(name, how): check_roundtrip(name, how)


@pytest.mark.parametrize('name', ['momentum, L2', 'adamw'])
def test_closure(name):
    "step(closure) evaluates the closure with gradients enabled, steps, and returns its loss, as torch's step does."
    ours_f, torch_f = configs()[name]
    prob = Problem(torch.float32)
    pa, pt = prob.params(), prob.params()
    oa, ot = ours_f(groups(pa, 'ours', name)), torch_f(groups(pt, 'torch', name))
    la, lt = [], []
    with torch.no_grad():   # the closure still gets gradients
        train(oa, prob, pa, range(N_STEPS), closure=True, after=lambda i, l: la.append(l))
        train(ot, prob, pt, range(N_STEPS), closure=True, after=lambda i, l: lt.append(l))
    assert_agrees(torch.stack(la), torch.stack(lt), tol=1e-5, what='losses returned by step(closure)')
    assert_agrees(params_and_grads(pa), params_and_grads(pt), tol=1e-5)
    assert oa.step() is None


# ---------------------------------------------------------------- torch.optim.lr_scheduler drives our optimizers
def schedulers():
    S = torch.optim.lr_scheduler
    return {
        'StepLR': lambda o: S.StepLR(o, step_size=2, gamma=0.5),
        'CosineAnnealingLR': lambda o: S.CosineAnnealingLR(o, T_max=N_STEPS),
        'OneCycleLR': lambda o: S.OneCycleLR(o, max_lr=[0.2, 0.1, 0.4], total_steps=N_STEPS, cycle_momentum=False),
        'LambdaLR': lambda o: S.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1), lambda e: 1.]),
        'LinearLR then ExponentialLR': lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.5, total_iters=2), S.ExponentialLR(o, 0.8)], milestones=[3]),
        'ReduceLROnPlateau': lambda o: S.ReduceLROnPlateau(o, patience=0, factor=0.5),
    }


def check_scheduler(sched_name, name='momentum, L2', make_ours=None):
    ours_f, torch_f = configs()[name]
    prob = Problem(torch.float32)
    pa, pt = prob.params(), prob.params()
    oa, ot = (make_ours or ours_f)(groups(pa, 'ours', name)), torch_f(groups(pt, 'torch', name))
    sa, st = call(schedulers()[sched_name], oa), schedulers()[sched_name](ot)
    for p, o, s in ((pa, oa, sa), (pt, ot, st)):
        plateau = isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau)
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # e.g. "lr_scheduler.step() before optimizer.step()"
            call(train, o, prob, p, range(N_STEPS), after=lambda i, l: s.step(1.) if plateau else s.step())
    assert_agrees([g['lr'] for g in oa.param_groups], [g['lr'] for g in ot.param_groups],
                  what=f'{sched_name} learning rates')
    assert_agrees(params_and_grads(pa), params_and_grads(pt), tol=1e-5, what=f'parameters under {sched_name}')


@pytest.mark.parametrize('sched_name', list(schedulers()))
def test_torch_schedulers(sched_name): check_scheduler(sched_name)


# ---------------------------------------------------------------- sparse gradients and bad arguments
def sparse_embedding():
    emb = nn.Embedding(10, 3, sparse=True)
    emb(torch.tensor([[1, 2], [2, 5]])).sum().backward()
    return emb


@pytest.mark.parametrize('name', ['momentum, L2', 'adam, L2', 'adamw', 'lamb'])
def test_sparse_gradients(name):
    "A clear RuntimeError naming the alternatives, the kind torch's Adam raises."
    ours_f, _ = configs()[name]
    emb = sparse_embedding()
    w0 = emb.weight.detach().clone()
    e = assert_raises_like(lambda: ours_f(list(emb.parameters())).step(),
                           lambda: torch.optim.Adam(emb.parameters()).step(), ['sparse', 'SparseAdam'])
    assert torch.equal(emb.weight, w0), "nothing may change before the error"


def invalid_cases():
    w, w2 = nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(2))
    return {
        'empty list': ([], {}, 'empty parameter list'),
        'single tensor': (w, {}, 'single Tensor'),
        'negative lr': ([w], dict(lr=-1.), 'invalid learning rate'),
        'non-leaf tensor': ([w * 2], {}, 'non-leaf'),
        'a set of tensors in a group': ([{'params': {w, w2}}], {}, 'ordered collections'),
        'not a tensor': ([w, 3.], {}, 'Tensors'),
        'same tensor in two groups': ([{'params': [w]}, {'params': [w, w2]}], {}, 'more than once'),
    }


@pytest.mark.parametrize('case', list(invalid_cases()))
def test_invalid_arguments(case):
    params, kw, match = invalid_cases()[case]
    kw = {'lr': 0.1, **kw}
    assert_raises_like(lambda: sgd_opt()(params, **kw), lambda: torch.optim.SGD(params, **kw), match)


def test_named_parameters_and_add_param_group():
    "(name, tensor) pairs as torch takes them (param_names in the groups and the state dict), and groups added later."
    m = nn.Linear(3, 2)
    oa, ot = adam_opt()(m.named_parameters(), lr=0.1), torch.optim.Adam(m.named_parameters(), lr=0.1)
    assert oa.param_groups[0]['param_names'] == ot.param_groups[0]['param_names'] == ['weight', 'bias']
    assert oa.state_dict()['param_groups'][0]['param_names'] == ['weight', 'bias']
    extra = nn.Parameter(torch.randn(2))
    oa.add_param_group({'params': [('extra', extra)], 'lr': 0.5})
    g = oa.param_groups[1]
    assert g['params'] == [extra] and g['lr'] == 0.5 and g['mom'] == 0.9


# ---------------------------------------------------------------- schedules (05_anneal) can be pickled and copied
def schedules():
    from minifast.schedule import sched_lin, sched_cos, sched_no, sched_exp, combine_scheds, sched_1cycle
    return {'sched_lin': sched_lin(1., 3.), 'sched_cos': sched_cos(2., 0.5), 'sched_no': sched_no(0.3, 9.),
            'sched_exp': sched_exp(1e-4, 1.), 'sched_1cycle': sched_1cycle(0.4, pct_start=0.3),
            'combine_scheds': combine_scheds([0.2, 0.3, 0.5], [sched_lin(0., 1.), sched_no(1., 1.), sched_cos(1., 0.)])}


def check_schedule_copies(f):
    "A pickled and a deep-copied schedule give the same values as the original; so does a ParamScheduler holding it."
    from minifast.schedule import ParamScheduler
    for how, g in (('pickle', call(lambda: pickle.loads(pickle.dumps(f)))), ('deepcopy', call(copy.deepcopy, f))):
        assert [g(p) for p in (0., 0.3, 0.77, 1.)] == [f(p) for p in (0., 0.3, 0.77, 1.)], f"{how} changed the schedule"
    ps = call(lambda: pickle.loads(pickle.dumps(ParamScheduler('lr', [f, f]))))
    assert ps.sched_funcs[1](0.4) == f(0.4)


@pytest.mark.parametrize('name', list(schedules()))
def test_schedules_pickle(name): check_schedule_copies(schedules()[name])


# ---------------------------------------------------------------- deliberate differences, pinned
def test_pinned_adam_defaults():
    "The course's (and fastai's) Adam defaults: eps=1e-5 and sqr_mom=0.99; torch's are 1e-8 and 0.999."
    g = adam_opt()([nn.Parameter(torch.randn(2))], lr=1e-3).param_groups[0]
    t = torch.optim.Adam([nn.Parameter(torch.randn(2))]).param_groups[0]
    assert (g['eps'], g['mom'], g['sqr_mom']) == (1e-5, 0.9, 0.99) and (t['eps'], t['betas']) == (1e-8, (0.9, 0.999))


def test_pinned_momentum_cycling_schedulers():
    "Hyper-parameters are called mom/sqr_mom/wd: torch schedulers that cycle 'momentum' or 'betas' cannot find them."
    o = sgd_opt(mom=0.9)([nn.Parameter(torch.randn(2))], lr=0.1)
    with pytest.raises(ValueError, match='momentum'):
        torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10)   # cycle_momentum=True by default
    torch_sgd = torch.optim.SGD([nn.Parameter(torch.randn(2))], lr=0.1, momentum=0.9)
    torch.optim.lr_scheduler.OneCycleLR(torch_sgd, max_lr=0.1, total_steps=10)


def test_pinned_dampening():
    "A dampened AverageGrad is an average started at zero (first step (1-mom)*g); torch's dampening skips step 1."
    pa, pt = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    oa = sgd_opt(mom=0.9, dampening=True)([pa], lr=0.1)
    ot = torch.optim.SGD([pt], lr=0.1, momentum=0.9, dampening=0.9)
    for p, o in ((pa, oa), (pt, ot)):
        p.grad = torch.ones(3); o.step()
    assert torch.allclose(pa, torch.full((3,), 1 - 0.1 * 0.1)) and torch.allclose(pt, torch.full((3,), 1 - 0.1))


def test_pinned_sparse_sgd_and_duplicates():
    "torch's SGD takes sparse gradients and only warns about a tensor repeated in one group; minifast raises for both."
    emb = sparse_embedding()
    torch.optim.SGD(emb.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match='sparse'): sgd_opt()(sparse_embedding().parameters(), lr=0.1).step()
    w = nn.Parameter(torch.randn(3))
    with pytest.warns(UserWarning, match='duplicate'): torch.optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match='more than once'): sgd_opt()([w, w], lr=0.1)


def test_pinned_no_nesterov():
    "No Nesterov momentum; as for any hyper-parameter no stepper reads, asking for it is a TypeError (torch's kind)."
    w = [nn.Parameter(torch.randn(2))]
    with pytest.raises(TypeError, match='nesterov'): sgd_opt(mom=0.9, nesterov=True)(w, lr=0.1)
    with pytest.raises(TypeError, match='weight_decay'): adam_opt(weight_decay=0.1)(w, lr=0.1)
    with pytest.raises(TypeError): torch.optim.SGD([nn.Parameter(torch.randn(2))], lr=0.1, mom=0.9)


# ---------------------------------------------------------------- the checkers catch broken implementations
def adam_step_no_debias(p, lr, grad_avg, sqr_avg, eps, **kwargs):
    return p.addcdiv_(grad_avg, sqr_avg.sqrt().add_(eps), value=-lr)


def inplace_l2(p, lr, wd, **kwargs):
    "The first l2_reg: adds the decay into p.grad itself."
    if wd != 0: p.grad.add_(p, alpha=wd)
    return p
inplace_l2._defaults, inplace_l2._order = dict(wd=0.), -20


def lamb_step_no_trust(p, lr, mom, mom_damp, step, sqr_mom, sqr_damp, grad_avg, sqr_avg, eps, wd, **kwargs):
    return adam_step(p, lr, mom, mom_damp, step, sqr_mom, sqr_damp, grad_avg, sqr_avg, eps)


class ComplexAsComplex(StatefulOptimizer):
    "Steps complex parameters as complex numbers (squares g*g instead of |g|^2 per component)."
    def _stand_ins(self, ps): return list(ps)


class ForgetfulLoad(StatefulOptimizer):
    "Loads the hyper-parameters but not the per-parameter state."
    def load_state_dict(self, sd): super().load_state_dict({**sd, 'state': {}})


class TorchPickling(StatefulOptimizer):
    "Pickles only what torch.optim.Optimizer pickles: the steppers are lost."
    def __getstate__(self): return torch.optim.Optimizer.__getstate__(self)


def adam_with(steppers=(adam_step, weight_decay), cls=StatefulOptimizer):
    return lambda gs, **kw: cls(gs, list(steppers), adam_stats(), lr=1e-2, **kw)


def adam_stats(): return [AverageGrad(dampening=True), AverageSqrGrad(), StepCount()]


def test_checkers_catch_mutants():
    assert_catches(check_optimizer, 'adamw', torch.float32, make_ours=adam_with((adam_step_no_debias, weight_decay)))
    assert 'gradients' in assert_catches(check_optimizer, 'adam, L2', torch.float32, foreach=False,
                                         make_ours=adam_with((adam_step, inplace_l2)))
    assert_catches(check_optimizer, 'adamw', torch.float32, make_ours=adam_with((adam_step, l2_reg)))  # the other decay
    assert_catches(check_optimizer, 'lamb', torch.float32, foreach=False,
                   make_ours=lambda gs, **kw: StatefulOptimizer(gs, lamb_step_no_trust, adam_stats(), lr=1e-2, eps=1e-6,
                                                                **kw))
    assert_catches(check_optimizer, 'adamw', torch.complex64, make_ours=adam_with(cls=ComplexAsComplex))
    assert_catches(check_roundtrip, 'adamw', 'state_dict', make_ours=adam_with(cls=ForgetfulLoad))
    assert 'raised' in assert_catches(check_roundtrip, 'adamw', 'pickle', make_ours=adam_with(cls=TorchPickling))
    def closure_schedule(start, end):   # the first combine_scheds returned a closure like this one
        def _inner(pos): return start + pos * (end - start)
        return _inner
    assert 'raised' in assert_catches(check_schedule_copies, closure_schedule(0., 1.))
    assert_catches(check_scheduler, 'StepLR',
                   make_ours=lambda gs, **kw: NotAnOptimizer(sgd_opt(mom=0.9, decouple_wd=False)(gs, lr=0.1)))


class NotAnOptimizer:
    "The first minifast Optimizer was no torch.optim.Optimizer: torch's schedulers refuse such an object."
    def __init__(self, opt): self.opt = opt
    def __getattr__(self, k): return getattr(self.__dict__['opt'], k)
