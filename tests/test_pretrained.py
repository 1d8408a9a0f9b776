"""ImageNet backbone weights (§3.3; the authors' code starts from them): torchvision's own
enums and hub cache, local files, and one clear error offline. Nothing is downloaded: the
download function itself is replaced for every test of this module."""

from __future__ import annotations

import email.message
import io
import os
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from lstmattn.config import BackboneConfig, get_profile
from lstmattn.errors import ConfigError
from lstmattn.model.backbone import build_backbone
from lstmattn.model.classifiers import CLASSIFIER_ARCHITECTURES, ImageClassifier
from lstmattn.model.pretrained import cached_weight_path, weights_enum

#: torch.hub's real download (hash check included), before the fixture below replaces it.
REAL_DOWNLOAD = torch.hub.download_url_to_file


@pytest.fixture(autouse=True)
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub under ``tmp_path`` and no network: returns the checkpoints dir."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(url: str, *args, **kwargs) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_offline_without_the_cached_file_is_one_clear_line(offline_hub: Path):
    expected_file = offline_hub / "resnet18-f37072fd.pth"
    for build in (lambda: build_backbone(BackboneConfig(name="resnet18", weights="IMAGENET1K_V1", out_channels=16)),
                  lambda: ImageClassifier("resnet18", num_classes=3, image_size=32, weights="IMAGENET1K_V1")):
        with pytest.raises(ConfigError) as error:
            build()
        message = str(error.value)
        assert "\n" not in message
        assert str(expected_file) in message  # which file is missing, and where it goes
        assert "local .pth file" in message and "null for random initialisation" in message


def test_cached_weights_are_read_through_the_torchvision_enum(offline_hub: Path):
    torch.manual_seed(3)
    imagenet = torchvision.models.resnet18()
    offline_hub.mkdir(parents=True)
    torch.save(imagenet.state_dict(), offline_hub / "resnet18-f37072fd.pth")
    for name in ("IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        backbone = build_backbone(BackboneConfig(name="resnet18", weights=name, out_channels=16))
        assert torch.equal(backbone.body.conv1.weight, imagenet.conv1.weight)
        assert torch.equal(backbone.body.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    classifier = ImageClassifier("resnet18", num_classes=2, image_size=32, weights="IMAGENET1K_V1")
    assert torch.equal(classifier.network.layer1[0].conv1.weight, imagenet.layer1[0].conv1.weight)
    assert classifier.network.fc.out_features == 2


def test_local_weight_file_and_its_errors(tmp_path: Path):
    source = torchvision.models.resnet18()
    path = tmp_path / "weights" / "resnet18.pth"
    path.parent.mkdir()
    torch.save(source.state_dict(), path)
    backbone = build_backbone(BackboneConfig(name="resnet18", weights=str(path), out_channels=16))
    assert torch.equal(backbone.body.conv1.weight, source.conv1.weight)
    with pytest.raises(ConfigError, match="not found.*null for random"):
        build_backbone(BackboneConfig(name="resnet18", weights=str(tmp_path / "missing.pth"), out_channels=16))
    with pytest.raises(ConfigError, match="do not fit resnet50"):
        build_backbone(BackboneConfig(name="resnet50", weights=str(path), out_channels=16))
    with pytest.raises(ConfigError, match="neither a file nor one of"):
        build_backbone(BackboneConfig(name="resnet18", weights="IMAGENET9K", out_channels=16))


def test_profiles_name_weights_torchvision_has(offline_hub: Path):
    """``paper`` and ``reference`` start from ImageNet (IMAGENET1K_V1, the checkpoint the
    authors' code downloads for ResNeXt50); every Table 2 classifier has the same enum."""
    for profile in ("paper", "reference"):
        backbone = get_profile(profile).model.backbone
        enum = weights_enum(backbone.name, backbone.weights)
        assert cached_weight_path(enum).parent == offline_hub
    assert cached_weight_path(weights_enum("resnext50_32x4d", "IMAGENET1K_V1")).name == "resnext50_32x4d-7cdf4587.pth"
    for architecture in CLASSIFIER_ARCHITECTURES:
        assert weights_enum(architecture, "IMAGENET1K_V1").url.endswith(".pth")
    assert get_profile("quick").model.backbone.weights is None


class _Payload:
    """Unpickling this would run a command: a weight file must never be a pickle of it."""

    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


def _resnet18(weights: str) -> None:
    build_backbone(BackboneConfig(name="resnet18", weights=weights, out_channels=16))


def test_every_bad_weight_file_is_one_line_naming_it(tmp_path: Path, offline_hub: Path):
    """Corrupt, truncated, code, not a state dict, wrong keys: one ConfigError line naming
    the file and the problem, for the hub cache and for local files alike."""
    good = io.BytesIO()
    torch.save(torchvision.models.resnet18().state_dict(), good)
    offline_hub.mkdir(parents=True)
    cached = offline_hub / "resnet18-f37072fd.pth"
    local = tmp_path / "weights.pth"
    cases = [
        (good.getvalue()[: len(good.getvalue()) // 2], "corrupt or not a weight file (RuntimeError: PytorchStreamReader"),
        (b"", "corrupt or not a weight file (EOFError)"),
        (b"not a weight file at all", "corrupt or not a weight file ("),
        ({"a": _Payload()}, "it holds Python objects (posix.system), not only weights, and is refused"),
        ([torch.zeros(1)], "not a state dict (it holds a list)"),
        ({}, "not a state dict (it holds an empty dict)"),
        ({"state_dict": {"conv1.weight": torch.zeros(1)}}, "not a state dict ('state_dict' holds a dict, not a tensor)"),
        ({"conv9.weight": torch.zeros(1)}, "weights do not fit resnet18 (missing ['conv1.weight', "),
    ]
    for content, problem in cases:
        for path, weights in ((cached, "IMAGENET1K_V1"), (local, str(local))):
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                torch.save(content, path)
            with pytest.raises(ConfigError) as refused:
                _resnet18(weights)
            message = str(refused.value)
            assert message.startswith(f"{path}: {problem}") and "\n" not in message, message
            if path == cached and "do not fit" not in problem:
                assert message.endswith("delete it to download it again (model.backbone.weights='IMAGENET1K_V1')")
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


class _Response(io.BytesIO):
    """What urlopen returns, for torch.hub's download: the bytes and their headers."""

    def info(self) -> email.message.Message:
        return email.message.Message()


def test_a_download_with_the_wrong_hash_is_one_line_and_leaves_nothing(offline_hub: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", REAL_DOWNLOAD)
    monkeypatch.setattr(torch.hub, "urlopen", lambda request, *args, **kwargs: _Response(b"not the weights"))
    cached = offline_hub / "resnet18-f37072fd.pth"
    with pytest.raises(ConfigError) as refused:
        _resnet18("IMAGENET1K_V1")
    message = str(refused.value)
    assert message.startswith(f"{cached}: the download of https://download.pytorch.org/models/resnet18-f37072fd.pth "
                              'failed its hash check (RuntimeError: invalid hash value (expected "f37072fd", got "')
    assert "\n" not in message and not cached.exists()
