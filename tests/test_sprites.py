"""The procedural sprites (vmieval.synthetic): deterministic, and each factor does what it says.

Known answers from geometry: a symmetric sprite's pixel centroid is its centre, its area grows as
scale², a square rotated by 90° and an ellipse by 180° are unchanged, every sprite stays inside the
disc of its radius (so it never leaves the frame), and an RGB sprite is painted in its colour class.
"""

from __future__ import annotations

import numpy as np
import pytest

from vmieval.synthetic import SpriteConfig, make_sprites, render, save_npz
from vmieval.synthetic.sprites import COLOURS, FACTOR_NAMES, factor_sizes, factor_values

CONFIG = SpriteConfig()


def one(shape: int, scale: int, rotation: int, x: int, y: int, config: SpriteConfig = CONFIG) -> np.ndarray:
    return render(np.array([[shape, scale, rotation, x, y]]), config)[0] > 0


def test_same_seed_same_bytes_other_seed_other_images() -> None:
    a, b, c = make_sprites(300, seed=5), make_sprites(300, seed=5), make_sprites(300, seed=6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.factors, b.factors)
    assert not np.array_equal(a.factors, c.factors)
    assert a.images.shape == (300, 64, 64) and a.images.dtype == np.uint8
    assert set(np.unique(a.images)) == {0, 255}
    assert a.factor_names == FACTOR_NAMES and a.factors.dtype == np.int64
    assert np.array_equal(a.labels, a.factors[:, 0])
    for k, size in enumerate(factor_sizes(CONFIG)):
        assert 0 <= a.factors[:, k].min() and a.factors[:, k].max() < size
    assert (a.images.reshape(300, -1) > 0).sum(1).min() > 10  # no empty image


def test_batches_do_not_change_the_images() -> None:
    small = make_sprites(50, seed=1, config=SpriteConfig(batch=7))
    assert np.array_equal(small.images, make_sprites(50, seed=1).images)


@pytest.mark.parametrize("shape", [0, 1])  # square and ellipse are point-symmetric about their centre
def test_centroid_is_the_position(shape: int) -> None:
    for x, y, rotation in ((0, 31, 3), (20, 5, 17), (31, 0, 0)):
        mask = one(shape, 5, rotation, x, y)
        rows, cols = np.nonzero(mask)
        values = factor_values(np.array([[shape, 5, rotation, x, y]]), CONFIG)
        assert cols.mean() + 0.5 == pytest.approx(values["x"][0], abs=0.3)
        assert rows.mean() + 0.5 == pytest.approx(values["y"][0], abs=0.3)


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_area_grows_as_scale_squared(shape: int) -> None:
    ratio = one(shape, 5, 7, 16, 16).sum() / one(shape, 0, 7, 16, 16).sum()
    assert ratio == pytest.approx(4.0, rel=0.1)


def test_rotation_symmetries_and_a_heart_that_turns() -> None:
    quarter, half = CONFIG.rotations // 4, CONFIG.rotations // 2
    assert np.array_equal(one(0, 5, 0, 16, 16), one(0, 5, quarter, 16, 16))  # square: 90°
    assert np.array_equal(one(1, 5, 3, 16, 16), one(1, 5, 3 + half, 16, 16))  # ellipse: 180°
    assert not np.array_equal(one(1, 5, 0, 16, 16), one(1, 5, quarter, 16, 16))
    assert not np.array_equal(one(2, 5, 0, 16, 16), one(2, 5, half, 16, 16))  # heart: only 360°
    # upside down is the upright heart turned by 180° about the image centre (31 positions: 15 is central)
    central = SpriteConfig(positions=31)
    upright, flipped = one(2, 5, 0, 15, 15, central), one(2, 5, half, 15, 15, central)
    assert (upright != flipped[::-1, ::-1]).sum() <= 0.02 * upright.sum()


def test_every_sprite_stays_inside_its_disc() -> None:
    sprites = make_sprites(400, seed=2)
    values = factor_values(sprites.factors, CONFIG)
    centres = np.arange(64) + 0.5
    for img, x, y, s in zip(sprites.images, values["x"], values["y"], values["scale"], strict=True):
        rows, cols = np.nonzero(img)
        radius = s * CONFIG.max_radius * CONFIG.size
        assert np.hypot(centres[cols] - x, centres[rows] - y).max() <= radius + 1e-9


def test_rgb_sprites_are_painted_in_their_colour() -> None:
    config = SpriteConfig(rgb=True, size=32)
    sprites = make_sprites(60, seed=3, config=config)
    assert sprites.images.shape == (60, 32, 32, 3) and sprites.factor_names[-1] == "colour"
    palette = np.array(list(COLOURS.values()))
    for img, colour in zip(sprites.images, sprites.factors[:, 5], strict=True):
        lit = img.reshape(-1, 3)[img.reshape(-1, 3).any(1)]
        assert len(lit) and (lit == palette[colour]).all()


def test_npz_holds_the_agreed_layout(tmp_path) -> None:
    sprites = make_sprites(20, seed=0)
    path = save_npz(tmp_path / "s.npz", sprites)
    with np.load(path) as f:
        assert sorted(f.files) == ["factor_names", "factors", "images", "labels"]
        assert np.array_equal(f["images"], sprites.images) and np.array_equal(f["factors"], sprites.factors)
        assert tuple(f["factor_names"].tolist()) == FACTOR_NAMES and f["factor_names"].dtype.kind == "U"


def test_factors_of_generated_sprites_are_recovered_by_mig() -> None:
    """End to end on real pixels: a 'latent' that reads each factor off the image scores MIG near 1."""
    import torch

    from vmieval.estimators.factors import FactorConfig, factor_report

    sprites = make_sprites(600, seed=4)
    area = (sprites.images > 0).reshape(len(sprites), -1).sum(1)
    ys, xs = np.mgrid[0:64, 0:64]
    mass = (sprites.images > 0).astype(np.float64)
    cx = (mass * xs).sum((1, 2)) / mass.sum((1, 2))
    cy = (mass * ys).sum((1, 2)) / mass.sum((1, 2))
    mean = torch.from_numpy(np.stack([cx, cy, np.sqrt(area)], axis=1))
    logvar = torch.full_like(mean, np.log(0.3**2))
    factors = sprites.factors[:, [3, 4, 1]]  # x, y, scale
    report = factor_report(mean, logvar, factors, torch.Generator().manual_seed(0), ("x", "y", "scale"),
                           config=FactorConfig(bootstrap=0))  # fmt: skip
    assert report.mig.top_two[:, 0].tolist() == [0, 1, 2]
    assert report.mig.value > 0.5 and report.histogram_mig.value > 0.5


def test_committed_fixtures_are_what_the_generator_makes() -> None:
    from pathlib import Path

    from vmieval.synthetic.sprites import SpriteConfig

    folder = Path(__file__).resolve().parent.parent / "fixtures" / "sprites"
    for name, n, seed, rgb in (("sprites-test.npz", 1000, 1, False), ("sprites-rgb-test.npz", 500, 2, True)):
        fresh = make_sprites(n, seed, SpriteConfig(rgb=rgb))
        with np.load(folder / name) as stored:
            assert np.array_equal(stored["factors"], fresh.factors) and np.array_equal(stored["labels"], fresh.labels)
            # pixels exactly on a shape's edge may flip where sin/cos round differently: allow 1 in 10^4
            assert (stored["images"] != fresh.images).mean() < 1e-4


def test_data_sprites_streams_the_fixture_splits() -> None:
    """`--data sprites` renders on demand exactly what the committed fixture holds, with its factors."""
    from pathlib import Path

    from vmieval.data.resolve import load_images, open_dataset
    from vmieval.errors import UsageError

    data = load_images("sprites", "test", limit=300)
    assert tuple(data.images.shape) == (300, 1, 64, 64) and data.factor_names == FACTOR_NAMES
    with np.load(Path(__file__).resolve().parent.parent / "fixtures" / "sprites" / "sprites-test.npz") as stored:
        assert np.array_equal(data.factors.numpy(), stored["factors"][:300])
        assert np.array_equal(data.labels.numpy(), stored["labels"][:300])
        assert (data.images[:, 0].numpy() * 255 != stored["images"][:300]).mean() < 1e-4
    drawn = open_dataset("Sprites_RGB", "test", limit=40, seed=1)  # a seeded subsample reads only its rows
    batch = next(drawn.batches(64))
    assert tuple(batch.images.shape) == (40, 3, 64, 64) and batch.factors.shape == (40, 6)
    with pytest.raises(UsageError, match="split"):
        open_dataset("sprites", "valid")
    with pytest.raises(UsageError, match="generated"):
        open_dataset("sprites", "test", data_dir="/tmp")


@pytest.mark.parametrize(
    "preset, dataset, shape, width",
    [("sprites-gauss10", "sprites", (1, 64, 64), 16), ("sprites-rgb-gauss10", "sprites-rgb", (3, 64, 64), 32)],
)
def test_sprites_preset_trains_a_burgess_checkpoint(tmp_path, preset, dataset, shape, width) -> None:
    from vmieval.trainers import resolve_config, train
    from vmieval.trainers.presets import TrainConfig

    import vmieval

    config = resolve_config(preset, epochs=1, limit=64, heldout=32, device="cpu")
    assert config.spec().observation_shape == shape and config.dataset == dataset
    assert TrainConfig.from_dict(config.to_dict()) == config  # observation_shape survives JSON
    result = train(config, tmp_path / "s.pt")
    model = vmieval.load(result.path)
    assert model.info.architecture == "burgess" and model.spec.observation_shape == shape
    assert model.training_record["dataset"] == dataset
    assert model._module.encoder.conv1.weight.shape == (width, shape[0], 4, 4)  # RGB: Burgess's published 32


def test_sprites_fixture_model_carries_position_above_chance() -> None:
    """The committed sprites model, through the encoded split: some latent reads x, and some reads y,
    well above the chance level of a 400-image set with 32 classes per factor."""
    import torch
    from shared_paths import FIXTURE_MODELS
    from vmieval.trainers import resolve_config
    from vmieval.trainers.presets import TrainConfig

    import vmieval
    from vmieval.data.resolve import load_images
    from vmieval.encoded import encode_split
    from vmieval.estimators.factors import FactorConfig, split_factor_report
    from vmieval.synthetic.sprites import FACTOR_NAMES as NAMES

    model = vmieval.load(FIXTURE_MODELS / "sprites-gauss10-mi.pt")
    assert model.spec.observation_shape == (1, 64, 64) and model.training_record["dataset"] == "sprites"
    # the README's command (the preset, no overrides) is what made it
    assert TrainConfig.from_dict(model.training_record["config"]) == resolve_config("sprites-gauss10")
    encoded = encode_split(model, load_images("sprites", "test", limit=400))
    mi = split_factor_report(encoded, torch.Generator().manual_seed(0), FactorConfig(bootstrap=0)).mi
    above = mi.values - mi.null_values
    for factor in ("x", "y"):
        k = NAMES.index(factor)
        j = int(above[:, k].argmax())
        assert above[j, k] > 4 * mi.stderr[j, k] + 0.1, (factor, mi.values[:, k], mi.null_values[:, k])
