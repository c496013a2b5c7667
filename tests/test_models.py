"""Tests of helpers.models: shapes at odd sizes, parameter counts, variants, FCN-32s, memory, receptive field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import models
from helpers.models import (
    Ensemble,
    FCN32s,
    UNet,
    activation_memory,
    build_model,
    count_parameters,
    receptive_field,
    receptive_field_table,
)

ORIGINAL_UNET_PARAMETERS = 31_037_698  # Ronneberger et al. U-Net, 3 → 2 classes, transposed up-sampling


@pytest.mark.parametrize("height, width", [(300, 400), (301, 397), (48, 64), (17, 33)])
def test_unet_logits_have_the_input_size(height, width):
    torch.manual_seed(0)
    model = UNet(3, 9, base=4, depth=4).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, height, width))
    assert logits.shape == (2, 9, height, width)
    assert torch.isfinite(logits).all()


def test_unet_full_gta_frame_size():
    model = UNet(3, 9, base=4, depth=4).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 1052, 1914))
    assert logits.shape == (1, 9, 1052, 1914)


@pytest.mark.parametrize("height, width", [(1, 1), (5, 40), (15, 15), (16, 16)])
def test_unet_handles_a_tiny_bottleneck(height, width):
    model = UNet(3, 4, base=4, depth=4).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, height, width)).shape == (1, 4, height, width)


def test_original_unet_parameter_count():
    model = UNet(in_channels=3, num_classes=2, base=64, depth=4, up="transpose", init="default")
    parameters = count_parameters(model)
    assert abs(parameters - ORIGINAL_UNET_PARAMETERS) / ORIGINAL_UNET_PARAMETERS < 0.01
    assert parameters == ORIGINAL_UNET_PARAMETERS


def test_parameter_count_by_hand_for_a_tiny_unet():
    model = UNet(in_channels=1, num_classes=2, base=2, depth=1, init="default")
    double_conv = lambda cin, cout: cin * cout * 9 + 2 * cout + cout * cout * 9 + 2 * cout  # noqa: E731
    expected = (double_conv(1, 2)  # inc
                + double_conv(2, 4)  # down
                + (4 * 2 * 4 + 2)  # 2×2 transposed conv 4 → 2 channels, with bias
                + double_conv(4, 2)  # up: 2 (skip) + 2 (up-sampled) channels in
                + (2 * 2 + 2))  # 1×1 head
    assert count_parameters(model) == expected


def test_skips_false_has_fewer_parameters_and_a_different_output():
    torch.manual_seed(0)
    with_skips = UNet(3, 5, base=8, depth=3, skips=True)
    torch.manual_seed(0)
    without_skips = UNet(3, 5, base=8, depth=3, skips=False)
    assert count_parameters(without_skips) < count_parameters(with_skips)
    assert not any(isinstance(m, nn.Conv2d) and m.in_channels == 2 * m.out_channels
                   for up in without_skips.ups for m in up.conv.modules())
    images = torch.rand(2, 3, 30, 41)
    with torch.no_grad():
        out_with = with_skips.eval()(images)
        out_without = without_skips.eval()(images)
    assert out_without.shape == out_with.shape == (2, 5, 30, 41)
    assert not torch.allclose(out_with, out_without)


def test_bilinear_up_sampling_works_and_differs_from_transpose():
    transpose = UNet(3, 4, base=8, depth=3, up="transpose")
    bilinear = UNet(3, 4, base=8, depth=3, up="bilinear").eval()
    assert any(isinstance(m, nn.Upsample) for m in bilinear.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in bilinear.modules())
    assert count_parameters(bilinear) < count_parameters(transpose)
    with torch.no_grad():
        assert bilinear(torch.rand(1, 3, 37, 53)).shape == (1, 4, 37, 53)


def test_kaiming_init_sets_batch_norm_and_conv_statistics():
    torch.manual_seed(0)
    model = UNet(3, 4, base=32, depth=2, init="kaiming")
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(bn.weight, torch.ones_like(bn.weight)) for bn in batch_norms)
    assert all(torch.equal(bn.bias, torch.zeros_like(bn.bias)) for bn in batch_norms)
    conv = model.downs[0].pool_conv[1].double_conv[3]  # 3×3, 64 → 64: fan_out = 64·9
    expected_std = (2 / (64 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    torch.manual_seed(0)
    default = UNet(3, 4, base=32, depth=2, init="default")
    assert not torch.equal(default.downs[0].pool_conv[1].double_conv[3].weight, conv.weight)


def test_dropout_is_added_and_only_active_in_training():
    model = UNet(3, 2, base=4, depth=2, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout2d) for m in model.modules()) == 5  # inc, 2 downs, 2 ups
    images = torch.rand(1, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(images), model(images))


def test_norm_none_removes_every_batch_norm_and_gives_the_convolutions_biases():
    torch.manual_seed(0)
    with_norm = UNet(3, 4, base=4, depth=2)
    torch.manual_seed(0)
    without = UNet(3, 4, base=4, depth=2, norm="none")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_norm.modules()) == 10  # 5 DoubleConvs × 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    inner = [m for m in without.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(inner) == 10 and all(conv.bias is not None for conv in inner)
    assert all(conv.bias is None for conv in with_norm.modules() if isinstance(conv, nn.Conv2d)
               and conv.kernel_size == (3, 3))
    batch_norm_parameters = sum(p.numel() for m in with_norm.modules() if isinstance(m, nn.BatchNorm2d)
                                for p in m.parameters())
    assert count_parameters(without) == count_parameters(with_norm) - batch_norm_parameters // 2  # β → conv bias
    assert without.config["norm"] == "none" and "norm" not in with_norm.config
    rebuilt = build_model(without.config)
    rebuilt.load_state_dict(without.state_dict())
    images = torch.rand(2, 3, 16, 20)
    with torch.no_grad():
        assert torch.equal(rebuilt(images), without(images))
    # without normalisation the network is homogeneous in its input when the biases are zero (Kaiming init)
    with torch.no_grad():
        assert torch.allclose(without(images * 10), 10 * without(images), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="norm must be"):
        UNet(norm="layer")


def test_config_rebuilds_the_same_model():
    model = UNet(in_channels=1, num_classes=3, base=4, depth=2, up="bilinear", skips=False,
                 dropout=0.1, init="default")
    assert model.config == {"arch": "unet", "in_channels": 1, "num_classes": 3, "base": 4, "depth": 2,
                            "up": "bilinear", "skips": False, "dropout": 0.1, "init": "default"}
    rebuilt = build_model(model.config)
    rebuilt.load_state_dict(model.state_dict())
    images = torch.rand(2, 1, 20, 24)
    with torch.no_grad():
        assert torch.equal(model.eval()(images), rebuilt.eval()(images))
    fcn = build_model({"arch": "fcn32s", "num_classes": 4, "weights": None})
    assert isinstance(fcn, FCN32s) and fcn.config["num_classes"] == 4


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="up must be"):
        UNet(up="nearest")
    with pytest.raises(ValueError, match="init must be"):
        UNet(init="xavier")
    with pytest.raises(ValueError, match="arch"):
        build_model({"arch": "segnet"})


def test_a_few_adam_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = UNet(3, 3, base=4, depth=2)
    images = torch.rand(2, 3, 24, 32)
    target = torch.zeros(2, 24, 32, dtype=torch.long)
    target[:, :, 10:] = 1
    target[:, 16:, :] = 2
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_fcn32s_output_size_and_parameters():
    model = FCN32s(num_classes=5).eval()
    assert model.config == {"arch": "fcn32s", "num_classes": 5, "weights": None}
    with torch.no_grad():
        for height, width in [(64, 96), (75, 101)]:
            assert model(torch.rand(1, 3, height, width)).shape == (1, 5, height, width)
    resnet18_without_fc = 11_689_512 - (512 * 1000 + 1000)
    assert count_parameters(model) == resnet18_without_fc + 512 * 5 + 5
    assert models.IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert models.IMAGENET_STD == (0.229, 0.224, 0.225)


def test_fcn32s_normalizes_its_input_with_imagenet_statistics():
    model = FCN32s(num_classes=2).eval()
    captured = {}

    def keep_input(module, inputs, output):
        captured["x"] = inputs[0]

    model.encoder.conv1.register_forward_hook(keep_input)
    mean = torch.tensor(models.IMAGENET_MEAN).view(1, 3, 1, 1)
    with torch.no_grad():
        model(mean.expand(1, 3, 32, 32).clone())
    assert captured["x"].abs().max().item() < 1e-6  # the ImageNet mean colour maps to 0


def test_freeze_and_unfreeze_encoder():
    model = FCN32s(num_classes=3)
    total = count_parameters(model)
    model.freeze_encoder()
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert count_parameters(model, trainable_only=True) == 512 * 3 + 3
    model.train()
    assert not model.encoder.training and model.classifier.training  # frozen BN statistics
    model.unfreeze_encoder()
    assert all(p.requires_grad for p in model.parameters())
    assert count_parameters(model, trainable_only=True) == total
    assert model.encoder.training


def test_imagenet_weights_missing_offline_raise_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    assert not models.imagenet_weights_cached()
    with pytest.raises(RuntimeError, match="not available offline") as error:
        FCN32s(num_classes=3, weights="imagenet")
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in str(error.value)


def test_imagenet_weights_are_read_from_the_hub_cache(monkeypatch, tmp_path):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("must not download when the file is cached"))
    torch.manual_seed(1)
    stand_in = resnet18(weights=None).state_dict()  # stands in for the real ImageNet file
    checkpoint = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    checkpoint.parent.mkdir(parents=True)
    torch.save(stand_in, checkpoint)
    assert models.imagenet_weights_cached()
    model = FCN32s(num_classes=3, weights="imagenet")
    assert torch.equal(model.encoder.layer4[1].conv2.weight, stand_in["layer4.1.conv2.weight"])
    assert model.config["weights"] == "imagenet"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    rebuilt = build_model(model.config, load_pretrained=False)  # no weights needed to load a checkpoint
    assert rebuilt.config["weights"] == "imagenet"


def test_count_parameters_trainable_only():
    model = UNet(3, 2, base=4, depth=1)
    for parameter in model.inc.parameters():
        parameter.requires_grad_(False)
    frozen = sum(p.numel() for p in model.inc.parameters())
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - frozen


def test_activation_memory_grows_linearly_with_batch_size():
    model = UNet(3, 9, base=4, depth=4)
    model.train()
    one = activation_memory(model, (300, 400), batch_size=1)
    four = activation_memory(model, (300, 400), batch_size=4)
    assert one > 0
    assert four / one == pytest.approx(4.0, rel=0.01)
    assert model.training  # mode restored
    smaller = activation_memory(model, (150, 200), batch_size=1)
    assert one / smaller == pytest.approx(4.0, rel=0.05)


def test_activation_memory_by_hand_for_one_block():
    block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
    # conv output + batch-norm output, float32; the in-place ReLU allocates nothing
    assert activation_memory(block, (10, 20), batch_size=2) == 2 * (2 * 8 * 10 * 20 * 4)


def test_receptive_field_by_hand():
    # depth 1: 3×3, 3×3 (5), pool (6, jump 2), 3×3, 3×3 (14), up ×2 (jump 1), 3×3, 3×3 (18)
    assert receptive_field(UNet(base=4, depth=1)) == 18
    # the original U-Net: 140 at the bottleneck, 200 at the output
    table = receptive_field_table(UNet(base=4, depth=4))
    bottleneck = [row for row in table if row["layer"].startswith("downs.3")][-1]
    assert bottleneck["receptive_field"] == 140 and bottleneck["jump"] == 16
    assert table[-1]["receptive_field"] == 200 and table[-1]["jump"] == 1
    assert receptive_field(UNet(base=4, depth=4, up="bilinear")) == 230
    assert receptive_field(FCN32s(num_classes=2)) == 435  # ResNet-18's known receptive field


def test_receptive_field_matches_the_gradient_footprint():
    model = UNet(1, 1, base=2, depth=2, init="default").eval()
    with torch.no_grad():  # positive weights: every ReLU passes, so gradients reach every input
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.fill_(0.1)
    size = 64
    widths = []
    for centre in (31, 32, 33, 34):
        image = torch.rand(1, 1, size, size, requires_grad=True)
        model(image)[0, 0, centre, centre].backward()
        rows = image.grad[0, 0].abs().sum(dim=1).nonzero()
        widths.append(int(rows.max() - rows.min() + 1))
    assert max(widths) == receptive_field(model)


# ---------------------------------------------------------------------------------------------
# PixelClassifier: the per-pixel colour baseline


def test_pixel_classifier_shapes_parameters_and_config():
    model = models.PixelClassifier(in_channels=3, num_classes=9, hidden=32, layers=2)
    # 3→32 (no bias) + BN 64, 32→32 (no bias) + BN 64, head 32→9 with bias
    assert count_parameters(model) == 3 * 32 + 64 + 32 * 32 + 64 + 32 * 9 + 9
    assert model.config == {"arch": "pixel", "in_channels": 3, "num_classes": 9, "hidden": 32, "layers": 2}
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 13, 17)).shape == (2, 9, 13, 17)
    assert count_parameters(models.PixelClassifier(3, 4, layers=0)) == 3 * 4 + 4  # plain linear per pixel
    with pytest.raises(ValueError):
        models.PixelClassifier(hidden=0)


def test_pixel_classifier_sees_only_its_own_pixel():
    torch.manual_seed(0)
    model = models.PixelClassifier(3, 5).eval()
    images = torch.rand(1, 3, 16, 16)
    changed = images.clone()
    changed[0, :, 7, 9] = torch.tensor([1.0, 0.0, 0.5])
    with torch.no_grad():
        difference = (model(changed) - model(images)).abs().sum(dim=1)[0]
    assert difference[7, 9] > 0
    difference[7, 9] = 0
    assert torch.count_nonzero(difference) == 0
    assert receptive_field(model) == 1


def test_pixel_classifier_rebuilds_from_config_and_learns_colours():
    torch.manual_seed(0)
    model = models.PixelClassifier(3, 2, hidden=8, layers=1)
    rebuilt = build_model(model.config)
    rebuilt.load_state_dict(model.state_dict())
    images = torch.rand(4, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(model.eval()(images), rebuilt.eval()(images))
    target = (images[:, 0] > 0.5).long()  # the class is a colour rule: red channel above one half
    optimizer = torch.optim.Adam(model.train().parameters(), lr=3e-2)
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), target)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(1) == target).float().mean()
    assert accuracy > 0.95


def test_ensemble_of_binary_models_averages_sigmoid_probabilities():
    torch.manual_seed(0)
    members = [UNet(num_classes=1, base=4, depth=1).eval() for _ in range(2)]
    ensemble = Ensemble(members).eval()
    images = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        mean = torch.stack([member(images).sigmoid() for member in members]).mean(dim=0)
        assert torch.allclose(ensemble(images).sigmoid(), mean, atol=1e-5)
    rebuilt = build_model(ensemble.config)
    assert isinstance(rebuilt, Ensemble) and len(rebuilt.members) == 2
    assert rebuilt.members[0].config == members[0].config
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


@pytest.mark.parametrize("damage, reason", [
    (lambda path: path.write_bytes(path.read_bytes()[:2000]), "truncated, damaged or not a torch file"),
    (lambda path: torch.save({"conv1.weight": np.float64(1.0)}, path), "Python objects other than tensors"),
    (lambda path: torch.save({"conv1.weight": torch.zeros(2, 2)}, path), "of another shape"),
])
def test_a_damaged_imagenet_weights_file_is_named_without_unsafe_advice(monkeypatch, tmp_path, damage, reason):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("must not download"))
    checkpoint = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    checkpoint.parent.mkdir(parents=True)
    torch.save(resnet18(weights=None).state_dict(), checkpoint)
    damage(checkpoint)
    with pytest.raises((RuntimeError, ValueError)) as error:
        FCN32s(num_classes=3, weights="imagenet")
    message = str(error.value)
    assert str(checkpoint) in message and reason in message and "weights=None" in message
    assert "weights_only=False" not in message


def test_trace_shapes_marks_the_dropped_rows_and_the_paddings_at_400x300():
    with torch.device("meta"):
        model = models.UNet(3, 9, base=64)
    rows, logits = models.trace_shapes(model, torch.empty(1, 3, 300, 400, device="meta"))
    assert rows[0] == ("input", "", "3×300×400", "") and rows[-1][:3] == ("outc", "1×1 conv", "9×300×400")
    assert logits.shape == (1, 9, 300, 400)
    assert [(stage, shape) for stage, _, shape, _ in rows if stage.startswith("down")] == [
        ("down1", "128×150×200"), ("down2", "256×75×100"), ("down3", "512×37×50"), ("down4", "1024×18×25")]
    assert [row[3] for row in rows if row[0] == "down4"] == ["37 is odd: its last row is dropped"]
    paddings = [(rows[i - 1][0], row[2], row[3]) for i, row in enumerate(rows) if row[1] == "pad to the skip"]
    assert paddings == [("up1", "512×37×50", "+1 row of zeros (36 → 37)"), ("up2", "256×75×100", "+1 row of zeros (74 → 75)")]
    assert sum(row[1] == "concatenate skip" for row in rows) == 4



def test_trace_shapes_marks_dropped_columns_and_column_paddings_at_100x75():
    with torch.device("meta"):
        model = models.UNet(3, 9, base=8)
    rows, _ = models.trace_shapes(model, torch.empty(1, 3, 75, 100, device="meta"))
    assert [row[3] for row in rows if row[0] == "down3"] == ["25 is odd: its last column is dropped"]
    assert models.padding_steps(rows) == ["up1: +1 row of zeros (8 → 9)", "up2: +1 column of zeros (24 → 25)",
                                          "up3: +1 row of zeros (36 → 37)", "up4: +1 row of zeros (74 → 75)"]

def test_trace_shapes_without_skips_concatenates_nothing_and_matches_forward():
    model = models.UNet(3, 2, base=2, skips=False).eval()
    images = torch.rand(1, 3, 20, 24)
    rows, logits = models.trace_shapes(model, images)
    assert not any(row[1] == "concatenate skip" for row in rows)
    with torch.no_grad():
        assert torch.equal(logits, model(images))


def test_skip_probe_feeds_its_fixed_skip_to_the_up_block():
    up = models.Up(8, 4).eval()
    skip = torch.rand(1, 4, 9, 12)
    x = torch.rand(1, 8, 4, 6)
    with torch.no_grad():
        assert torch.equal(models.SkipProbe(up, skip)(x), up(x, skip))
    assert "skip" in dict(models.SkipProbe(up, skip).named_buffers())
