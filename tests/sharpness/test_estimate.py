"""The Estimate record."""

from __future__ import annotations

import json

from fgsam.sharpness import Estimate


def test_float_repr_and_json():
    est = Estimate(value=2.5, stderr=0.1, samples=40)
    assert float(est) == 2.5
    assert "value=2.5" in repr(est) and "stderr=0.1" in repr(est)
    assert json.loads(json.dumps(est.to_dict())) == {"value": 2.5, "stderr": 0.1, "samples": 40}
    assert Estimate(1.0, None, 3).to_dict()["stderr"] is None
