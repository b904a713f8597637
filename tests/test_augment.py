import torch

from slamags.augment import MEAN, STD, center_crop, centre_view, colour_jitter, crop_size, random_crop, random_view


def test_random_crop_takes_a_window_of_each_image():
    x = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).reshape(2, 3, 10, 10)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 4, gen)
    assert out.shape == (2, 3, 4, 4)
    for b in range(2):
        found = any(torch.equal(out[b], x[b, :, i:i + 4, j:j + 4]) for i in range(7) for j in range(7))
        assert found


def test_views_are_deterministic_per_generator_and_differ_per_sample():
    x = (torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    a = random_view(x, 28, torch.Generator().manual_seed(7))
    b = random_view(x, 28, torch.Generator().manual_seed(7))
    c = random_view(x, 28, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (8, 3, 28, 28) and a.dtype == torch.float32


def test_centre_view_is_the_normalised_centre_crop():
    x = torch.full((1, 3, 10, 10), 255, dtype=torch.uint8)
    x[..., 3:7, 3:7] = 0
    v = centre_view(x, 4)
    expected = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(v[0, :, 1, 1], expected)
    assert torch.equal(center_crop(x, 4), x[..., 3:7, 3:7])


def test_colour_jitter_zero_strength_is_identity_and_stays_in_range():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(colour_jitter(x, 0.0, torch.Generator().manual_seed(0)), x, atol=1e-5)
    y = colour_jitter(x, 0.1, torch.Generator().manual_seed(0))
    assert y.min() >= 0 and y.max() <= 1 and not torch.allclose(y, x)


def test_crop_size_scales_224_of_250():
    assert crop_size(250, 224 / 250) == 224
    assert crop_size(48, 0.896) == 43


def test_jitter_and_rotation_each_apply_with_probability_0_8():
    gen = torch.Generator().manual_seed(0)
    # a flat colour: crop, flip and rotation change nothing, so a changed pixel means the jitter ran
    flat = torch.tensor([200, 120, 180], dtype=torch.uint8)[None, :, None, None].expand(4000, 3, 8, 8).contiguous()
    v = random_view(flat, 8, gen)
    jittered = (v - centre_view(flat, 8)).abs().amax((1, 2, 3)) > 1e-4
    assert abs(jittered.float().mean().item() - 0.8) < 0.03
    # a horizontal ramp with no jitter: a rotated view has its ramp along the other axis
    ramp = torch.arange(8, dtype=torch.uint8).mul(30)[None, None, None, :].expand(4000, 3, 8, 8).contiguous()
    v = random_view(ramp, 8, gen, jitter=0.0)
    rotated = (v[:, 0, :, 0] - v[:, 0, :1, 0]).abs().amax(1) > 1e-4      # varies down the first column
    assert abs(rotated.float().mean().item() - 0.8) < 0.03
    none = random_view(ramp, 8, gen, jitter=0.1, p_rot=0.0, p_jitter=0.0)
    assert ((none - centre_view(ramp, 8)).abs().amax((1, 2, 3)) < 1e-5).float().mean() > 0.4  # only flips left
