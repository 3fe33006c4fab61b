"""Deterministic train/val/test splits with the seeds' presets (:data:`SPLITS`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["SPLITS", "split_counts", "split_indices"]

#: Split presets of the source material: seed 000 (ImageNet subset, first table) and seed 004
#: (Places205) use 80/10/10; seed 000's second table is labelled 60/20/20.
SPLITS: dict[str, tuple[float, float, float]] = {
    "80/10/10": (0.8, 0.1, 0.1),
    "60/20/20": (0.6, 0.2, 0.2),
}


def split_counts(n: int, split: str | Sequence[float] = "80/10/10") -> tuple[int, int, int]:
    """Sizes ``(train, val, test)`` of a split of ``n`` items.

    ``split`` is a preset of :data:`SPLITS`, a string of percentages (``"70/15/15"``,
    ``"80/20"``), a tuple of fractions summing to 1, or a tuple of integer counts summing to ``n``
    (to reproduce a published table exactly). Two parts mean no test set.

    Rounding: every part but the last gets ``floor(fraction * n)``, the last the remainder. This
    reproduces seed 000's 80/10/10 table exactly (20426 -> 16340/2042/2044). No rounding of
    fractions reproduces seed 000's "60/20/20" table (12739/3842/3845 is 62.4/18.8/18.8 %):
    pass those counts. Seed 004's Places205 split (237974 -> 202278/11899/23797, 85/5/10)
    rounds to nearest instead: pass its counts too.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(split, str):
        if split in SPLITS:
            parts: tuple = SPLITS[split]
        else:
            try:
                pct = [float(x) for x in split.split("/")]
            except ValueError:
                raise ValueError(
                    f"split {split!r} is neither a preset {sorted(SPLITS)} nor "
                    "percentages like '70/15/15'"
                ) from None
            if abs(sum(pct) - 100.0) > 1e-6:
                raise ValueError(f"split {split!r}: percentages sum to {sum(pct)}, not 100")
            parts = tuple(p / 100.0 for p in pct)
    else:
        parts = tuple(split)
    if len(parts) not in (2, 3) or any(p < 0 for p in parts):
        raise ValueError(f"split needs 2 or 3 non-negative parts, got {split!r}")
    if all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts):
        if sum(parts) != n:
            raise ValueError(f"split counts {tuple(parts)} sum to {sum(parts)}, not n={n}")
        counts = [int(p) for p in parts]
    else:
        if abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"split fractions {tuple(parts)} sum to {sum(parts)}, not 1")
        counts = [int(math.floor(p * n + 1e-9)) for p in parts[:-1]]
        counts.append(n - sum(counts))
    if len(counts) == 2:
        counts.append(0)
    return counts[0], counts[1], counts[2]


def split_indices(
    n: int, split: str | Sequence[float] = "80/10/10", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic disjoint ``(train, val, test)`` index arrays covering ``range(n)``.

    A permutation from ``numpy.random.default_rng(seed)`` cut into the sizes of
    :func:`split_counts` (see there for ``split`` and the rounding); each part is returned sorted
    (int64). The same ``(n, split, seed)`` always gives the same split.
    """
    counts = split_counts(n, split)
    perm = np.random.default_rng(seed).permutation(int(n))
    a, b = counts[0], counts[0] + counts[1]
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])
