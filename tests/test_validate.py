"""fgsam._validate: devices named by the user are checked, with what is available."""

from __future__ import annotations

import pytest
import torch

from fgsam._validate import available_devices, resolve_device


def test_cpu_and_the_default_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert available_devices()[0] == "cpu"


@pytest.mark.parametrize(("name", "message"), [
    ("cuda:99", r"^--device 'cuda:99' is not available in this process; available here: cpu"),
    ("tpu0", r"^--device 'tpu0' is not a device name; available here: cpu"),
])
def test_bad_devices_name_the_available_ones(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_device(name, "--device")
