"""ImageNet backbone weights (§3.3; the authors' code starts from them): torchvision's own
enums and hub cache, local files, and one clear error offline. Nothing is downloaded: the
download function itself is replaced for every test of this module."""

from __future__ import annotations

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
