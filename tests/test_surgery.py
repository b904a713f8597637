import numpy as np
import pytest
import torch
from torchvision.models import resnet18

from slamags.surgery import adaptive_gradient_surgery, gram, plain_sum


def as_list(*vecs):
    """Each task's gradient as two 'parameters' (a 2-vector split 1 + 1) to exercise the per-parameter path."""
    return [[torch.tensor([v[0]], dtype=torch.float64), torch.tensor([v[1]], dtype=torch.float64)] for v in vecs]


def flat(gs):
    return torch.cat([g.reshape(-1) for g in gs])


def reference_ags(task_grads, orders):
    """The textbook algorithm on flattened float64 vectors, with explicit ifs."""
    g = [flat(t).double() for t in task_grads]
    projected = []
    for i, gi in enumerate(g):
        v = gi.clone()
        for j in orders[i]:
            d = float(v @ g[j])
            if d < 0:
                v = v - d / float(g[j] @ g[j]) * g[j]
        projected.append(v)
    pc = sum(projected)
    target = torch.linalg.vector_norm(sum(g))
    return pc * target / torch.linalg.vector_norm(pc)


def test_two_conflicting_gradients_give_the_analytic_result():
    g1, g2 = np.array([1.0, 0.0]), np.array([-1.0, 1.0])   # dot = -1: conflict
    out, st = adaptive_gradient_surgery(as_list(g1, g2))
    p1 = g1 - (-1.0 / 2.0) * g2                             # [0.5, 0.5]
    p2 = g2 - (-1.0 / 1.0) * g1                             # [0, 1]
    pc = p1 + p2                                            # [0.5, 1.5]
    expected = pc / np.linalg.norm(pc) * np.linalg.norm(g1 + g2)
    assert flat(out).numpy() == pytest.approx(expected, abs=1e-12)
    assert st.conflict.item() == 1.0
    assert st.cosine.item() == pytest.approx(-1 / np.sqrt(2))
    assert st.norm_sum.item() == pytest.approx(1.0)
    assert st.norm_projected.item() == pytest.approx(np.linalg.norm(pc))


def test_non_conflicting_gradients_are_untouched():
    g1, g2 = np.array([1.0, 2.0]), np.array([0.5, -0.1])   # dot = 0.3 > 0
    out, st = adaptive_gradient_surgery(as_list(g1, g2))
    assert flat(out).numpy() == pytest.approx(g1 + g2, abs=1e-12)
    assert st.conflict.item() == 0.0


def test_orthogonal_and_zero_gradients():
    out, _ = adaptive_gradient_surgery(as_list([1.0, 0.0], [0.0, 3.0]))
    assert flat(out).numpy() == pytest.approx([1.0, 3.0])
    out, _ = adaptive_gradient_surgery(as_list([0.0, 0.0], [2.0, -1.0]))   # an empty task contributes nothing
    assert flat(out).numpy() == pytest.approx([2.0, -1.0])
    out, _ = adaptive_gradient_surgery(as_list([1.0, 1.0], [-1.0, -1.0]))  # exact opposites: sum is zero
    assert flat(out).numpy() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_three_tasks_follow_the_random_order():
    gen = torch.Generator().manual_seed(5)
    vecs = [np.array([1.0, 0.2, 0.0]), np.array([-0.8, 1.0, 0.1]), np.array([0.1, -1.0, 0.9])]
    grads = [[torch.tensor(v)] for v in vecs]
    state = gen.get_state()
    out, _ = adaptive_gradient_surgery(grads, gen)
    gen.set_state(state)
    orders = []
    for i in range(3):
        others = [j for j in range(3) if j != i]
        orders.append([others[k] for k in torch.randperm(2, generator=gen).tolist()])
    assert flat(out).numpy() == pytest.approx(reference_ags(grads, orders).numpy(), rel=1e-10)


def test_output_norm_equals_norm_of_plain_sum_and_matches_float64_reference_on_resnet18():
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=8)
    params = [p for p in model.parameters()]
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    l1 = out[:, :4].pow(2).mean()
    l2 = -out[:, :4].mean() + out[:, 4:].abs().mean()
    g1 = list(torch.autograd.grad(l1, params, retain_graph=True))
    g2 = list(torch.autograd.grad(l2, params))
    dot = float(flat(g1).double() @ flat(g2).double())
    gen = torch.Generator().manual_seed(0)
    combined, st = adaptive_gradient_surgery([g1, g2], gen)
    ref = reference_ags([g1, g2], [[1], [0]])
    got = flat(combined).double()
    assert [c.shape for c in combined] == [p.shape for p in params]
    assert torch.linalg.vector_norm(got).item() == pytest.approx(torch.linalg.vector_norm(flat(g1).double() + flat(g2).double()).item(), rel=1e-5)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-7 * ref.abs().max().item())
    assert st.conflict.item() == float(dot < 0)
    if dot < 0:  # surgery changed the direction
        assert not torch.allclose(got, flat(g1).double() + flat(g2).double(), rtol=1e-3)


def test_random_gradients_match_reference_in_both_regimes():
    rng = np.random.default_rng(0)
    regimes = set()
    for trial in range(20):
        shapes = [(3, 4), (5,), (2, 2, 2)]
        g1 = [torch.from_numpy(rng.normal(size=s)) for s in shapes]
        g2 = [torch.from_numpy(rng.normal(size=s)) for s in shapes]
        out, st = adaptive_gradient_surgery([g1, g2])
        ref = reference_ags([g1, g2], [[1], [0]])
        assert torch.allclose(flat(out).double(), ref, rtol=1e-5, atol=1e-6)
        regimes.add(st.conflict.item())
    assert regimes == {0.0, 1.0}                     # both the projected and the untouched case were checked


@pytest.mark.parametrize("conflict", [True, False])
def test_the_training_path_matches_the_float64_reference(conflict):
    """What training does: channels_last ResNet18 gradients from autograd (read through ``_flat_pair``),
    combined with ``inplace=True`` into the task gradients' memory; checked against the textbook algorithm in
    float64 in both regimes, with the regime asserted rather than assumed."""
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=8).to(memory_format=torch.channels_last)
    params = list(model.parameters())
    out = model(torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    l1 = out[:, :4].pow(2).mean()
    l2 = (-1.0 if conflict else 1.0) * l1 + 0.3 * out[:, 4:].abs().mean()
    g1 = list(torch.autograd.grad(l1, params, retain_graph=True))
    g2 = list(torch.autograd.grad(l2, params))
    assert any(g.dim() == 4 and not g.is_contiguous() for g in g1)          # channels_last gradients reach it
    ref = reference_ags([g1, g2], [[1], [0]])                              # before g1/g2 are overwritten
    plain = flat(g1).double() + flat(g2).double()
    memory = [g.data_ptr() for g in g1]
    combined, st = adaptive_gradient_surgery([g1, g2], torch.Generator().manual_seed(0), inplace=True)
    assert [c.data_ptr() for c in combined] == memory                     # written into g1's memory
    got = flat(combined).double()
    assert st.conflict.item() == float(conflict)
    assert (got - ref).norm() / ref.norm() < 1e-5
    assert torch.linalg.vector_norm(got).item() == pytest.approx(torch.linalg.vector_norm(plain).item(), rel=1e-6)
    if conflict:
        assert (got - plain).norm() / plain.norm() > 1e-2                 # surgery changed the direction


def test_plain_sum_and_gram():
    g = as_list([1.0, 2.0], [3.0, -1.0])
    assert gram(g).numpy() == pytest.approx(np.array([[5.0, 1.0], [1.0, 10.0]]))
    out, st = plain_sum(g)
    assert flat(out).numpy() == pytest.approx([4.0, 1.0])
    assert st.norm_sum.item() == pytest.approx(np.sqrt(17))


def test_mismatched_tasks_are_refused():
    with pytest.raises(ValueError):
        adaptive_gradient_surgery([[torch.zeros(2)], [torch.zeros(2), torch.zeros(1)]])


def test_strongly_conflicting_float32_gradients_agree_with_float64_reference():
    """cos(g1, g2) = -0.94 over ResNet-sized float32 tensors: the Gram matrix must be summed in float64."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(512, 512, 3, 3), (512,), (256, 256, 3, 3), (1000, 512)]
    g1 = [torch.randn(s, generator=gen) * 1e-2 for s in shapes]
    noise = [torch.randn(s, generator=gen) * 1e-2 for s in shapes]
    # g2 = -a g1 + b noise with cosine -0.94
    g2 = [-x * 0.94 + n * (1 - 0.94 ** 2) ** 0.5 for x, n in zip(g1, noise)]
    cos = float(flat(g1).double() @ flat(g2).double()) / float(flat(g1).double().norm() * flat(g2).double().norm())
    assert cos == pytest.approx(-0.94, abs=0.01)
    out, st = adaptive_gradient_surgery([g1, g2], torch.Generator().manual_seed(1))
    ref = reference_ags([g1, g2], [[1], [0]])
    got = flat(out).double()
    assert (got - ref).norm() / ref.norm() < 1e-5
    assert st.cosine.item() == pytest.approx(cos, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_surgery_is_the_plain_sum_when_the_two_task_norms_are_equal(seed):
    """|g1| = |g2| and cos < 0: PCGrad gives (1 - cos)(g1 + g2), and rescaling to the sum's norm returns g1 + g2
    exactly. The telemetry records equal norms (ratio 1) and unit weights."""
    rng = np.random.default_rng(seed)
    g1 = rng.normal(size=50)
    g2 = -0.6 * g1 + rng.normal(size=50) * 0.5                       # conflicting
    g2 *= np.linalg.norm(g1) / np.linalg.norm(g2)                      # equal norms
    out, st = adaptive_gradient_surgery([[torch.tensor(g1)], [torch.tensor(g2)]])
    assert st.conflict.item() == 1.0
    assert flat(out).numpy() == pytest.approx(g1 + g2, abs=1e-9)
    assert st.norm_ratio.item() == pytest.approx(1.0) and st.weights.numpy() == pytest.approx([1.0, 1.0])
    assert st.task_norms.numpy() == pytest.approx([np.linalg.norm(g1)] * 2)


@pytest.mark.parametrize("ratio", [0.1, 0.5, 2.0])
def test_surgery_changes_the_step_when_the_task_norms_differ(ratio):
    """The converse: the same conflicting directions at unequal norms give a step that is not parallel to the
    plain sum (the weaker task's share grows), while its norm stays the sum's."""
    rng = np.random.default_rng(1)
    g1 = rng.normal(size=50)
    g2 = -0.6 * g1 + rng.normal(size=50) * 0.5
    g2 *= ratio * np.linalg.norm(g1) / np.linalg.norm(g2)
    out, st = adaptive_gradient_surgery([[torch.tensor(g1)], [torch.tensor(g2)]])
    step, plain = flat(out).numpy(), g1 + g2
    assert np.linalg.norm(step) == pytest.approx(np.linalg.norm(plain))
    assert step @ plain / np.linalg.norm(step) / np.linalg.norm(plain) < 0.999
    assert st.norm_ratio.item() == pytest.approx(1 / ratio)
    w = st.weights.numpy()
    assert (w[1] > w[0]) == (ratio < 1)                               # the smaller gradient weighs more
