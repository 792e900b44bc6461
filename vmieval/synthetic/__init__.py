"""Procedural datasets with known ground truth, generated from a seed (no download needed)."""

from vmieval.synthetic.sprites import SpriteConfig, Sprites, make_sprites, render, save_npz

__all__ = ["SpriteConfig", "Sprites", "make_sprites", "render", "save_npz"]
