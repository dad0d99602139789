"""The ensemble Transformer and its AdamW against separately built and trained CausalTransformers, member by
member: the same logits, the same gradients, the same weights after several AdamW steps with a learning rate and
a batch of their own, and a member masked out stays where its own model stopped."""
import pytest
import torch

from sims.engine.ensemble import EnsembleAdamW, EnsembleTransformer, member_losses
from sims.engine.errors import ConfigError
from sims.engine.nets import CausalTransformer
from sims.engine.torch_layer import seeded

V, D, L, H, T = 13, 16, 2, 2, 7
E, B = 3, 5


def members(n=E, d=D, layers=L):
    out = []
    for i in range(n):
        with seeded(i, "ensemble-test"):
            out.append(CausalTransformer(V, d, layers, H, T))
    return out


def batches(step: int):
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randint(0, V, (E, B, T), generator=g)
    mask = torch.rand(E, B, T, generator=g) < 0.6
    mask[:, :, 0] = True
    return x, torch.roll(x, -1, dims=2), mask


def one_loss(model, x, y, m):
    logits = model(x)
    return torch.nn.functional.cross_entropy(logits[m], y[m])


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_logits_equal_each_members_own():
    ms = members()
    ens = EnsembleTransformer.from_members(ms)
    x, _, _ = batches(0)
    out = ens(x)
    assert out.shape == (E, B, T, V)
    for i, m in enumerate(ms):
        torch.testing.assert_close(out[i], m(x[i]), rtol=1e-5, atol=1e-6)
    # members differ: their own initialisations
    assert not torch.allclose(out[0], out[1])


def test_gradients_equal_each_members_own():
    ms = members()
    ens = EnsembleTransformer.from_members(ms)
    x, y, mask = batches(1)
    member_losses(ens(x), y, mask).sum().backward()
    for i, m in enumerate(ms):
        one_loss(m, x[i], y[i], mask[i]).backward()
        grads = dict(m.named_parameters())
        torch.testing.assert_close(ens.tok.grad[i], grads["tok.weight"].grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ens.head.grad[i], grads["head.weight"].grad.t(), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ens.layers[1]["qkv_w"].grad[i], grads["blocks.1.attn.qkv.weight"].grad.t(),
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ens.layers[0]["fc_b"].grad[i], grads["blocks.0.mlp.0.bias"].grad,
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ens.layers[0]["ln2_w"].grad[i], grads["blocks.0.ln2.weight"].grad,
                                   rtol=1e-4, atol=1e-6)


def test_adamw_steps_match_member_by_member_and_a_masked_member_stops():
    ms = members()
    ens = EnsembleTransformer.from_members(ms)
    lrs = [3e-3, 1e-2, 5e-3]
    wd, betas = 0.1, (0.9, 0.98)
    opts = [torch.optim.AdamW(m.parameters(), lr=lr, betas=betas, weight_decay=wd) for m, lr in zip(ms, lrs)]
    eopt = EnsembleAdamW(ens.parameters(), E, lr=torch.tensor(lrs), betas=betas, weight_decay=wd)
    stop_member, stop_at, steps = 2, 3, 6
    for step in range(steps):
        x, y, mask = batches(step)
        active = torch.tensor([True, True, step < stop_at])
        eopt.zero_grad()
        member_losses(ens(x), y, mask).sum().backward()
        eopt.step(active)
        for i, (m, opt) in enumerate(zip(ms, opts)):
            if not active[i]:
                continue
            opt.zero_grad()
            one_loss(m, x[i], y[i], mask[i]).backward()
            opt.step()
    for i, m in enumerate(ms):
        back = ens.member(i)
        for (name, p), q in zip(m.named_parameters(), back.parameters()):
            if name.endswith("attn.qkv.bias"):
                # the key bias has no gradient in exact arithmetic (adding q.b_k to every score of a query leaves
                # its softmax unchanged); both AdamWs divide the ~1e-11 rounding noise left there by eps = 1e-8,
                # which moves it by up to lr * 1e-11 / 1e-8 per step in a direction set by the rounding alone
                key = slice(D, 2 * D)
                assert (q[key] - p[key]).abs().max() <= steps * lrs[i] * 1e-2, (i, name)
                q, p = torch.cat([q[:D], q[2 * D:]]), torch.cat([p[:D], p[2 * D:]])
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=f"member {i}: {name}")
    assert eopt.step_count.tolist() == [steps, steps, stop_at]
    x, _, _ = batches(99)
    torch.testing.assert_close(ens(x)[stop_member], ms[stop_member](x[stop_member]), rtol=1e-4, atol=1e-5)


def test_member_round_trip_and_shape_errors():
    ms = members()
    ens = EnsembleTransformer.from_members(ms)
    x, _, _ = batches(0)
    torch.testing.assert_close(ens.member(1)(x[1]), ms[1](x[1]))
    with pytest.raises(ConfigError, match="shape of member 0"):
        EnsembleTransformer.from_members([members(1)[0], members(1, d=8)[0]])
    with pytest.raises(ConfigError, match="n_members=3"):
        ens(x[:2])
    with pytest.raises(ConfigError, match="member must be in 0..2"):
        ens.member(3)
    with pytest.raises(ConfigError, match="at least one member"):
        EnsembleTransformer.from_members([])
    with pytest.raises(ConfigError, match="lr must be finite"):
        EnsembleAdamW(ens.parameters(), E, lr=float("nan"))
    with pytest.raises(ConfigError, match="n_members=4"):
        EnsembleAdamW(ens.parameters(), 4)
