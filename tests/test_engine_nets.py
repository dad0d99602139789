"""The shared CausalTransformer: causality, shapes, seeded initialisation, bad input, and that it learns."""
import pytest
import torch

from sims.engine.errors import ConfigError
from sims.engine.nets import CausalTransformer, n_params
from sims.engine.torch_layer import seeded


def _model(seed=0):
    with seeded(seed, "model"):
        return CausalTransformer(vocab_size=11, d_model=16, n_layers=2, n_heads=2, max_len=12)


def test_shapes_and_parameter_count():
    m = _model()
    out = m(torch.zeros(3, 7, dtype=torch.long))
    assert out.shape == (3, 7, 11)
    # embeddings 11*16 + 12*16, head 11*16, final LN 32, per block: 2 LN (64) + qkv 16*48+48 + out 16*16+16
    # + MLP 16*64+64 + 64*16+16
    per_block = 64 + (16 * 48 + 48) + (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16)
    assert n_params(m) == 11 * 16 + 12 * 16 + 11 * 16 + 32 + 2 * per_block


def test_selected_positions_give_the_same_logits_as_the_full_output():
    m = _model()
    x = torch.randint(0, 11, (4, 9), generator=torch.Generator().manual_seed(0))
    select = torch.rand(4, 9, generator=torch.Generator().manual_seed(1)) < 0.4
    full = m(x)
    part = m(x, select)
    assert part.shape == (int(select.sum()), 11)
    assert torch.allclose(part, full[select], atol=1e-6)


def test_causal_future_tokens_do_not_change_past_logits():
    m = _model()
    a = torch.randint(0, 11, (2, 10), generator=torch.Generator().manual_seed(0))
    b = a.clone()
    b[:, 6:] = (b[:, 6:] + 1) % 11
    with torch.no_grad():
        la, lb = m(a), m(b)
    assert torch.allclose(la[:, :6], lb[:, :6], atol=1e-6)
    assert not torch.allclose(la[:, 6:], lb[:, 6:], atol=1e-6)


def test_seeded_initialisation_is_deterministic_and_restores_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1 = _model(seed=4)
    after = torch.rand(1)
    assert torch.equal(before, after)  # building the model did not consume the caller's RNG stream
    m2, m3 = _model(seed=4), _model(seed=5)
    p1, p2, p3 = (torch.cat([p.flatten() for p in m.parameters()]) for m in (m1, m2, m3))
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)


@pytest.mark.parametrize("kwargs, name", [({"n_heads": 3}, "n_heads"), ({"d_model": 0}, "d_model"),
                                          ({"vocab_size": 0}, "vocab_size")])
def test_bad_sizes_name_the_parameter(kwargs, name):
    args = dict(vocab_size=11, d_model=16, n_layers=1, n_heads=2, max_len=8) | kwargs
    with pytest.raises(ConfigError, match=name):
        CausalTransformer(**args)


def test_too_long_sequence_is_refused():
    with pytest.raises(ConfigError, match="max_len"):
        _model()(torch.zeros(1, 13, dtype=torch.long))


def test_learns_to_copy_the_previous_token():
    """Output at position t must be the token at t-1: needs attention to the past; loss must fall far
    below the chance level ln(11) = 2.4."""
    m = _model()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        x = torch.randint(0, 11, (32, 12), generator=g)
        loss = torch.nn.functional.cross_entropy(m(x)[:, 1:].reshape(-1, 11), x[:, :-1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2
