"""GEFU CODaN parity: the suite's whole classification pipeline (dataset reader, colour order,
no resize or crop, ImageNet normalisation, the BYOL-wrapper checkpoint) gives the logits of
``gefu_eval/classification/eval.py`` re-stated with torchvision: ``Image.open`` ->
``ToTensor`` -> ``Normalize`` -> ``ResNet_BYOL.forward`` (= its online ResNet-18's logits),
on real photos (scikit-image's bundled ones) saved as CODaN JPEGs, random weights."""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from gefu.datasets import create_dataset
from gefu.tasks import create_task

PHOTOS = {"Cat": "chelsea", "Cup": "coffee", "Chair": "astronaut"}


def official_logits(net, path):
    transform = transforms.Compose(  # eval.py's transforms_test
        [transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    )
    with torch.no_grad():
        return net(transform(Image.open(path))[None])[0]


def test_codan_pipeline_gives_gefus_logits(tmp_path):
    import skimage.data

    for cls, name in PHOTOS.items():
        image = getattr(skimage.data, name)()[:240, :320]  # CODaN-sized crops of real photos
        folder = tmp_path / "test_night" / cls
        folder.mkdir(parents=True)
        Image.fromarray(image).save(folder / f"{name}.jpg", quality=90)

    torch.manual_seed(0)
    online = torchvision.models.resnet18(num_classes=10).eval()  # GEFU's resnet18 structure
    momentum = torchvision.models.resnet18(num_classes=10)
    with torch.no_grad():
        for m in online.modules():  # trained-looking BN statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    state = {f"resnet.{k}": v for k, v in online.state_dict().items()}  # ResNet_BYOL's layout
    state |= {f"encoder_k.{k}": v for k, v in momentum.state_dict().items()}
    state |= {"head_q.fc1.weight": torch.zeros(128, 512), "pred.fc2.bias": torch.zeros(128)}
    ckpt = tmp_path / "model_best.pt"
    torch.save({"epoch": 90, "state_dict": state}, ckpt)

    dataset = create_dataset("codan", root=str(tmp_path), split="test_night")
    task = create_task("classification", arch="gefu_codan_resnet18", checkpoint=str(ckpt))
    task.setup("cpu")
    assert len(dataset) == len(PHOTOS)
    for i in range(len(dataset)):
        sample = dataset.load(i)
        path = tmp_path / "test_night" / sample.meta["class"] / file_name(sample.name)
        ours = task.logits(sample.image[None].to(torch.float32))[0]
        theirs = official_logits(online, path)
        assert ours.shape == theirs.shape == (10,)
        assert float((ours - theirs).abs().max()) < 1e-5, sample.name
        assert int(ours.argmax()) == int(theirs.argmax())
        decoded = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
        assert np.array_equal(sample.image.permute(1, 2, 0).numpy(), decoded)  # RGB, as PIL


def file_name(name: str) -> str:
    return name.replace("\\", "/").split("/")[-1]
