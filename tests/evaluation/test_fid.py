"""FID: the Fréchet distance against hand computations, the Inception network against its TorchScript."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from wenchuang.errors import ModelError
from wenchuang.evaluation import fid


def test_frechet_distance_of_diagonal_gaussians_by_hand():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # |mu1-mu2|^2 = 1 + 0 + 4 = 5; per dimension (sqrt(v1) - sqrt(v2))^2 = 1 + 1 + 4 = 6
    assert fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(11.0, abs=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_on_general_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    root = linalg.sqrtm(s1 @ s2).real
    expected = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root))
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert fid.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)
    assert fid.frechet_distance(mu1, s1, mu2, s2, method="eigh") == pytest.approx(expected, rel=1e-9)
    assert fid.frechet_distance(mu1, s1, mu1, s1, method="eigh") == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="method"):
        fid.frechet_distance(mu1, s1, mu2, s2, method="svd")


def test_eigh_method_agrees_with_sqrtm_on_rank_deficient_feature_covariances():
    rng = np.random.default_rng(1)
    (m1, s1), (m2, s2) = fid.statistics(rng.normal(size=(20, 64))), fid.statistics(rng.normal(1, 2, size=(20, 64)))
    exact = fid.frechet_distance(m1, s1, m2, s2)
    assert fid.frechet_distance(m1, s1, m2, s2, method="eigh") == pytest.approx(exact, rel=1e-6)


def test_frechet_distance_of_singular_covariances_is_finite():
    s = np.zeros((3, 3))
    s[0, 0] = 1.0
    d = fid.frechet_distance(np.zeros(3), s, np.ones(3), s)
    assert d == pytest.approx(3.0, abs=1e-4)
    assert fid.frechet_distance(np.zeros(3), s, np.ones(3), s, method="eigh") == pytest.approx(3.0, abs=1e-6)


def test_statistics_are_mean_and_unbiased_covariance():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    mu, sigma = fid.statistics(x)
    np.testing.assert_allclose(mu, [1.0, 1.0])
    np.testing.assert_allclose(sigma, np.eye(2) * 4 / 3)


def test_network_shapes_and_pytorch_fid_preprocessing():
    torch.manual_seed(0)
    model = fid.FIDInception().eval()
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    x = torch.rand(1, 3, 64, 80)
    pre = model.preprocess(x)
    assert pre.shape == (1, 3, 299, 299) and pre.min() >= -1 and pre.max() <= 1
    with torch.no_grad():
        out = model(x)
        assert [model.features(pre, d).shape[1] for d in (64, 192, 768)] == [64, 192, 768]
    assert out.shape == (1, fid.FEATURE_DIM)
    assert (out >= 0).all()  # average of ReLU outputs


def test_pytorch_fid_state_dict_names_map_onto_every_tensor():
    model = fid.FIDInception()
    ours = model.state_dict()
    inverse = {v: k for k, v in fid._torchvision_to_tf_names().items()}
    leaf = {v: k for k, v in fid._TV_LEAF.items()}
    tv_state = {}
    for key, value in ours.items():
        prefix, name = key.rsplit(".", 1)
        tv_state[f"{inverse[prefix]}.{leaf[name]}"] = value
    tv_state["fc.weight"] = torch.zeros(1008, 2048)  # pytorch-fid keeps the TF logits layer; ignored
    # names of torchvision's Inception3 (pytorch-fid's layer names), with the shapes they have there
    assert tv_state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert tv_state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert tv_state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert tv_state["Mixed_7a.branch7x7x3_4.conv.weight"].shape == (192, 192, 3, 3)
    assert tv_state["Conv2d_4a_3x3.bn.running_var"].shape == (192,)
    converted = fid.convert_pytorch_fid_state_dict(tv_state)
    assert set(converted) == set(ours)
    for key, value in converted.items():  # every tensor lands on the name it came from
        assert value is ours[key], key
    fid.FIDInception().load_state_dict(converted, strict=True)


def test_missing_weights_give_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("WENCHUANG_FID_WEIGHTS", raising=False)
    with pytest.raises(ModelError, match="FID Inception weights not found"):
        fid.find_inception_weights(tmp_path / "nope.pth")
    bogus = tmp_path / "bogus.pth"
    torch.save({"something.weight": torch.zeros(2)}, bogus)
    with pytest.raises(ModelError, match="not an FID Inception checkpoint"):
        fid.load_fid_inception(bogus)


def test_too_few_images_is_a_user_error(tmp_path):
    Image.new("RGB", (32, 32)).save(tmp_path / "one.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(fid.WenchuangError, match="at least 2 images .* found 1$"):
        fid.list_images(tmp_path)
    Image.new("RGB", (32, 32)).save(tmp_path / "Two.PNG")
    assert [p.name for p in fid.list_images(tmp_path)] == ["Two.PNG", "one.png"]
    with pytest.raises(fid.WenchuangError, match="not a folder of images"):
        fid.list_images(tmp_path / "absent")


def _real_weights():
    try:
        return fid.find_inception_weights()
    except ModelError as exc:
        pytest.skip(str(exc))


def test_real_weights_match_the_torchscript_graph():
    path = _real_weights()
    if not fid._is_torchscript(path):
        pytest.skip("reference TorchScript graph not available")
    model = fid.load_fid_inception(path)
    reference = torch.jit.load(str(path), map_location="cpu").eval()
    x = torch.rand(1, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        ours, theirs = model.features(x), reference(x)
    assert ours.shape == theirs.shape == (1, 2048)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_fid_of_folders_with_real_weights(tmp_path):
    path = _real_weights()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        d = tmp_path / name
        d.mkdir()
    for i in range(3):
        img = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / "a" / f"{i}.png")
        Image.fromarray(img).save(tmp_path / "b" / f"{i}.png")
        Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(tmp_path / "c" / f"{i}.png")
    # 64-d features (pytorch-fid --dims 64) keep the 2048x2048 sqrtm out of the test budget
    same = fid.fid_from_dirs(tmp_path / "a", tmp_path / "b", weights=path, progress=False, dims=64)
    other = fid.fid_from_dirs(tmp_path / "a", tmp_path / "c", weights=path, progress=False, dims=64)
    assert same["fid"] == pytest.approx(0.0, abs=1e-3)
    assert other["fid"] > 1.0
    assert same["real_images"] == 3 and same["weights"] == str(path) and same["dims"] == 64
    with pytest.raises(fid.WenchuangError, match="dims"):
        fid.fid_from_dirs(tmp_path / "a", tmp_path / "b", weights=path, dims=100)


def test_corrupt_inception_weights_are_a_one_line_model_error(tmp_path):
    path = tmp_path / "pt_inception.pth"
    path.write_bytes(b"downloaded html page, not weights")
    with pytest.raises(ModelError) as info:
        fid.load_fid_inception(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a PyTorch checkpoint or safetensors file (")
    assert "weights_only" not in message and "\n" not in message
