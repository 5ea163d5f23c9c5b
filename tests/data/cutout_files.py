"""A user's folder of objects (``object_cutouts``: ``cutouts/<class>/<name>.png``), for tests
of detection scenes that must run without Debian's stamps and emoji."""

from pathlib import Path

from PIL import Image

SHAPES = {"square": (10, 10), "bar": (12, 4)}  # class → (w, h) of its opaque block


def write_cutouts(root: Path, per_class: int = 60) -> Path:
    """``root/cutouts/<class>/<class><i>.png``: each a 16×16 transparent picture holding an
    opaque block of its class's shape, in shades of blue; 60 a class put some in every split.
    Returns ``root``, the data_dir to load it from."""
    for shape, (w, h) in SHAPES.items():
        folder = root / "cutouts" / shape
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
            image.paste(Image.new("RGBA", (w, h), (4 * i, 0, 255, 255)), (2, 3))
            image.save(folder / f"{shape}{i}.png")
    return root
