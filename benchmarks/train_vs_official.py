"""One optimisation step of each method's official training code and of the suite, side by
side at the same shapes, precision and device, and the suite / official ratio.

    python benchmarks/train_vs_official.py --official /work/official [METHOD ...]
        [--device cpu] [--batch 2] [--size 64] [--steps 5]

``--official`` holds each authors' repository checked out under the method's name
(``zero_dce`` = github.com/Li-Chongyi/Zero-DCE, ``zero_dce_pp`` = github.com/Li-Chongyi/
Zero-DCE_extension, ``scl_lle`` = github.com/LingLIx/SCL-LLE, ``sagc`` = github.com/
georgepan900530/ + Semantics-Aware-Gamma-Correction-for-Unsupervised-Low-Light-Image-
Enhancement, ``hvr_ssle`` = github.com/dwchoo/HVR-SSLE, ``semi_llie`` = github.com/
guanguanboy/Semi-LLIE), and ``_deps``, the releases' own dependencies that the suite lacks
(``pip install --target DIR/_deps adamp``: Semi-LLIE's optimiser);
it is imported from there, never copied into this repository, and a method whose folder is
absent is skipped. The official step is the body of the release's training loop, called on
the release's own model and loss classes: forward, the weighted loss terms, ``zero_grad``,
backward, gradient clipping, ``step``. The suite's step is its method's ``train_step``
(``benchmarks/train_step_gpu.build_step``) on the same random batch shape. The releases
hard-code ``.cuda()``; on a CPU those calls are made no-ops while their code is built and
run, and ImageNet weights they would download are replaced by random ones (of the same
architecture: the cost is what is measured). Precision is the release's: fp32, HVR-SSLE
bf16 autocast (on a CPU too, on both sides). Both steps alternate, after one warm-up each;
the figure is the median. Default shapes are reduced for a CPU: 2 x 64², Semi-LLIE 1 x 16²
(where its RAM encoder, Swin-L at 384², dominates both steps; ``--small-ram`` gives both sides
a small one of the same layout, so the rest of the step is what is compared).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step_gpu import build_step, timed  # noqa: E402


@contextlib.contextmanager
def official_code(folder: Path, device: torch.device):
    """Import from ``folder`` (its modules forgotten afterwards); on a CPU, ``.cuda()`` is a
    no-op and torchvision's ``pretrained=True`` builds random weights."""
    import types

    import torchvision.models as tvm
    import torchvision.models.vgg as vgg

    before = set(sys.modules)
    deps = next((str(p / "_deps") for p in folder.parents if (p / "_deps").is_dir()), None)
    sys.path[:0] = [str(folder)] + ([deps] if deps else [])
    # SCL-LLE's Myloss imports pytorch_colors (absent from its repository) and never uses it
    sys.modules.setdefault("pytorch_colors", types.ModuleType("pytorch_colors"))
    # and torchvision < 0.13's models.utils (load_state_dict_from_url moved to torch.hub)
    shim = types.ModuleType("torchvision.models.utils")
    shim.load_state_dict_from_url = torch.hub.load_state_dict_from_url
    sys.modules.setdefault("torchvision.models.utils", shim)
    saved = torch.Tensor.cuda, torch.nn.Module.cuda, vgg.vgg16, tvm.vgg16
    if device.type == "cpu":
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self

        def vgg16(pretrained=False, **kw):
            return saved[2](weights=None)

        vgg.vgg16 = tvm.vgg16 = vgg16
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda, vgg.vgg16, tvm.vgg16 = saved
        sys.path.remove(str(folder))
        if deps:
            sys.path.remove(deps)
        # forget the releases' own modules (both have a "model" / "Myloss") and placeholders;
        # a library they imported first (mmengine, ...) stays: imported twice, its
        # registries would refuse their names
        ours = tuple(str(Path(p).resolve()) for p in (folder, deps) if p)
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if not file or str(Path(file).resolve()).startswith(ours):
                del sys.modules[name]


def zero_dce(folder: Path, batch: int, size: int, device: torch.device):
    """The loop body of Zero-DCE_code/lowlight_train.py (weights 200 / 1 / 5 / 10, clip 0.1)."""
    with official_code(folder / "Zero-DCE_code", device):
        import model
        import Myloss

        net = model.enhance_net_nopool().to(device).train()
        l_color, l_spa, l_exp, l_tv = (
            Myloss.L_color(),
            Myloss.L_spa(),
            Myloss.L_exp(16, 0.6),
            Myloss.L_TV(),
        )
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)
    low = torch.rand(batch, 3, size, size, device=device) * 0.3

    def step():
        with official_code(folder / "Zero-DCE_code", device):
            _, enhanced, curves = net(low)
            loss = (
                200 * l_tv(curves)
                + torch.mean(l_spa(enhanced, low))
                + 5 * torch.mean(l_color(enhanced))
                + 10 * torch.mean(l_exp(enhanced))
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)
            opt.step()

    return step


def scl_lle(folder: Path, batch: int, size: int, device: torch.device):
    """The loop body of SCL-LLE's train.py: DCE-Net under its seven losses (VGG16 perceptual
    and Gram terms, contrastive hinges on unpaired positives / negatives), then the frozen
    DeepLabV3+ MobileNet (train mode, as released) on the detached output, whose cross-entropy
    is added as a constant: the release builds its graph and never calls backward on it."""
    with official_code(folder, device):
        import lowlight_model
        import Myloss
        import network

        net = lowlight_model.enhance_net_nopool().to(device).train()
        seg = (
            network.deeplabv3plus_mobilenet(
                num_classes=19, output_stride=16, pretrained_backbone=False
            )
            .to(device)
            .train()
        )
        l_color, l_con, l_tv = Myloss.L_color(), Myloss.L_con(), Myloss.L_TV()
        l_segexp, l_percept, l_const = (
            Myloss.L_segexp(),
            Myloss.perception_loss(),
            Myloss.PerceptualLoss(),
        )
    l_percept.to(device), l_const.vgg.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=255)
    images = torch.rand(batch, 3, size, size, device=device) * 0.3
    labels = torch.randint(0, 19, (batch, size, size), device=device)
    positive, negative = (torch.rand(2, 3, size, size, device=device) * s for s in (1, 0.3))
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def step():
        with official_code(folder, device):
            _, enhanced, curves = net(images)
            loss_tv = 200 * l_tv(curves)
            loss_col = 8 * torch.mean(l_color(enhanced))
            loss_segexp = torch.mean(l_segexp(enhanced, labels))
            loss_percept = torch.mean(l_percept(images, enhanced))
            zero = l_con(negative, enhanced) - l_con(negative, enhanced)
            hinge = l_con(enhanced, positive) - l_con(enhanced, negative) + 0.3
            loss_cont = 10 * torch.mean(max(hinge, zero))
            hinge2 = l_const(enhanced, positive) - l_const(enhanced, negative) + 0.04
            loss_cont2 = 5 * torch.mean(max(hinge2, zero))
            seg_loss = criterion(seg((enhanced.detach() - mean) / std), labels).detach()
            loss = loss_tv + loss_col + loss_segexp + loss_cont + loss_cont2 + loss_percept
            loss = loss + seg_loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)
            opt.step()

    return step


def zero_dce_pp(folder: Path, batch: int, size: int, device: torch.device):
    """The loop body of Zero-DCE++/lowlight_train.py (scale factor 1; TV weight 1600, exposure
    level 0.6 passed per call, clip 0.1)."""
    with official_code(folder / "Zero-DCE++", device):
        import model
        import Myloss

        net = model.enhance_net_nopool(1).to(device).train()
        l_color, l_spa, l_exp, l_tv = (
            Myloss.L_color(),
            Myloss.L_spa(),
            Myloss.L_exp(16),
            Myloss.L_TV(),
        )
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)
    low = torch.rand(batch, 3, size, size, device=device) * 0.3

    def step():
        with official_code(folder / "Zero-DCE++", device):
            enhanced, curves = net(low)
            loss = (
                1600 * l_tv(curves)
                + torch.mean(l_spa(enhanced, low))
                + 5 * torch.mean(l_color(enhanced))
                + 10 * torch.mean(l_exp(enhanced, 0.6))
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1)  # released: the old alias
            opt.step()

    return step


def sagc(folder: Path, batch: int, size: int, device: torch.device):
    """The loop body of SAGC's train.py ``Trainer.train`` (critic step with its gradient
    penalty, then the generator's five terms), on its own ``Trainer`` methods and classes;
    one process (the release wraps each network in DataParallel over two GPUs)."""
    argv, sys.argv = sys.argv, [sys.argv[0]]  # its option.py parses the command line on import
    try:
        with official_code(folder, device):
            import model
            import seg_network
            import train

            trainer = train.Trainer.__new__(train.Trainer)  # its __init__ reads the dataset
            train.device = device
            t = trainer
            t.net = model.GPE_Enhance(1).to(device).train()
            t.Discriminator = model.Discriminator(img_size=(size, size, 19), dim=16).to(device)
            t.seg_model = seg_network.modeling.deeplabv3plus_mobilenet(
                num_classes=19, output_stride=16, pretrained_backbone=False
            )
            t.seg_model.to(device).eval()
            t.losses = {"G": [], "D": [], "GP": [], "gradient_norm": []}
            t.L_color, t.L_brightness = train.loss.L_color(), train.loss.L_brightness()
            t.L_smooth = train.loss.L_smooth()
            t.L_flip = torch.nn.MSELoss(reduction="sum")
            t.L_recon = torch.nn.MSELoss(reduction="mean")
            t.G_optimizer = torch.optim.Adam(t.net.parameters(), lr=1e-4, weight_decay=1e-4)
            t.D_optimizer = torch.optim.Adam(
                t.Discriminator.parameters(), lr=1e-4, weight_decay=1e-4
            )
            t.num_steps, t.gp_weight, t.critic_iterations = 0, 10, 10
    finally:
        sys.argv = argv
    from torchvision import transforms

    flip = transforms.RandomHorizontalFlip(p=1)
    norm = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    low = torch.rand(batch, 3, size, size, device=device) * 0.3
    normal = torch.rand(batch, 3, size, size, device=device)

    def step():
        with official_code(folder, device):
            t.num_steps += 1
            enhanced, curves = t.net(low)
            enhanced_normal, _ = t.net(normal)
            _, flip_curves = t.net(flip(low))
            loss_flip = t.L_flip(curves, flip(flip_curves))
            loss_recon = t.L_recon(normal, enhanced_normal)
            fake_seg, real_seg = t.seg_model(norm(enhanced)), t.seg_model(norm(normal))
            d_generated, d_real = t.Discriminator(fake_seg), t.Discriminator(real_seg)
            penalty = t._gradient_penalty(real_seg, fake_seg)
            d_loss = d_generated.mean() - d_real.mean() + penalty
            t.D_optimizer.zero_grad()
            d_loss.backward(retain_graph=True)
            t.D_optimizer.step()
            loss_smooth, brightness_e, color_e = t.get_loss(curves, enhanced, fake_seg)
            _, brightness_n, color_n = t.get_loss(curves, normal, real_seg)
            g_loss = (
                20 * torch.mean((brightness_e - brightness_n) ** 2)
                + 10 * torch.mean((color_e - color_n) ** 2)
                + 3 * loss_smooth
                + 0.5 * loss_flip
                + loss_recon
            )
            if t.num_steps % t.critic_iterations == 0:
                g_loss -= d_generated.detach().clone().mean()
            t.G_optimizer.zero_grad()
            g_loss.backward()
            t.G_optimizer.step()

    return step


class _Config(dict):
    """HVR-SSLE's attribute-style config (``config.x`` and ``config.get``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@contextlib.contextmanager
def random_lpips():
    """pyiqa's LPIPS with random weights on both sides (its AlexNet and linear layers are
    downloads; the suite otherwise drops the term when they are absent)."""
    import pyiqa
    import torchvision.models as tvm

    from gefu.methods.hvr_ssle import recipe

    saved = pyiqa.create_metric, tvm.alexnet, recipe.lpips_weights_present

    def create_metric(name, *args, **kwargs):
        return saved[0](
            name, *args, **({**kwargs, "pretrained": False} if name == "lpips" else kwargs)
        )

    pyiqa.create_metric, recipe.lpips_weights_present = create_metric, lambda *a: True
    tvm.alexnet = lambda *a, **k: saved[1](weights=None)
    try:
        yield
    finally:
        pyiqa.create_metric, tvm.alexnet, recipe.lpips_weights_present = saved


def hvr_ssle(folder: Path, batch: int, size: int, device: torch.device):
    """The loop body of HVR-SSLE's train.py on its ``HVR`` and ``Loss_hybrid`` with its
    ``checkpoint/config.json`` (crop set to ``size``): under accelerate's ``accumulate`` and
    ``autocast`` (bf16, as released: on a CPU, CPU autocast to bf16, which the suite's step
    uses too), ``HVR_N_supervision`` = 2 deep-supervision updates, the release's gradient
    checkpointing on. Both sides eager: the release compiles, the suite's config too, but
    compiling costs minutes on a CPU (its speed-up is for the GPU run)."""
    import json

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # bf16 whatever came before
    cfg = _Config(json.loads((folder / "checkpoint" / "config.json").read_text()))
    cfg.update(width=size, height=size)
    accelerator = Accelerator(mixed_precision=cfg.autocast_dtype, cpu=device.type == "cpu")
    with official_code(folder, device), random_lpips():
        with stub_modules(icecream={"ic": None}):  # its debug printer, imported, unused here
            from models.HVR import HVR
            from utils.loss import Loss_hybrid

        net = HVR(config=cfg, checkpoint=cfg.checkpoint).to(device).train()
        net.checkpoint = True
        criterion = Loss_hybrid(
            device=device,
            accelerator=accelerator,
            loss_weights=cfg.loss_weight,
            exposure_mean=cfg.get("exposure_mean", 0.6),
        )
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate)
        net, opt = accelerator.prepare(net, opt)
    inputs = torch.rand(batch, 3, size, size, device=device) * 0.6 - 1  # [-1, 1], dark
    targets = torch.rand(batch, 3, size, size, device=device) * 2 - 1

    def step():
        with official_code(folder, device), accelerator.accumulate(net), accelerator.autocast():
            z = None
            for _ in range(cfg.HVR_N_supervision):
                z, pred = net(x=inputs, z=z)
                loss, loss_dict = criterion(
                    pred_image=pred.float(),
                    target_image=targets.float(),
                    input_image=inputs.float(),
                    input_zero_to_one=not cfg.normalize_one_to_one,
                )
                z = z[0].detach(), z[1].detach()
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    opt.step()
                    opt.zero_grad()
            criterion.add_value_to_track(dict_value=loss_dict, save_custom=True)
            {k: accelerator.gather(v).mean().item() for k, v in loss_dict.items()}

    return step


@contextlib.contextmanager
def stub_modules(**modules: dict):
    """Fresh modules under these names (``a__b`` = ``a.b``) while a release is imported, each
    holding the given attributes; names its measured code never calls are ``None`` here and
    raise if called. Any module of that name already loaded is put back afterwards."""
    import types

    def absent(*_a, **_k):
        raise RuntimeError("not available in this benchmark")

    saved = {}
    for key, attrs in modules.items():
        name = key.replace("__", ".")
        saved[name] = sys.modules.get(name)
        module = sys.modules[name] = types.ModuleType(name)
        for attr, value in attrs.items():
            setattr(module, attr, absent if value is None else value)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def selective_scan_fn(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
):
    """``mamba_ssm``'s ``selective_scan_fn`` as Semi-LLIE's model calls it (no ``z``, no last
    state), by the suite's scan."""
    from gefu.methods.semi_llie.mamba_scan import selective_scan

    if z is not None or return_last_state:
        raise NotImplementedError("z, return_last_state: not used by Semi-LLIE's model")
    return selective_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)


def semi_llie_aux(ram_arch: dict | None = None) -> dict:
    """The suite's config's ``aux`` for Semi-LLIE, RAM's architecture overridden by ``ram_arch``."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "configs/train/semi_llie.yaml"
    aux = yaml.safe_load(path.read_text())["aux"]
    return {**aux, "ram": {**aux["ram"], "arch": ram_arch or {}}}


# a RAM encoder of the same layout, 1/100 of Swin-L's cost (``--small-ram``: both sides)
SMALL_RAM = {
    "embed_dim": 32,
    "depths": [2, 2, 2, 2],
    "num_heads": [1, 2, 4, 8],
    "proj_dim": 64,
    "num_tags": 100,
    "tag_hidden": 64,
    "tag_heads": 2,
    "tag_layers": 1,
    "tag_intermediate": 128,
}


def semi_llie(
    folder: Path, batch: int, size: int, device: torch.device, ram_arch: dict | None = None
):
    """The loop body of Semi-LLIE's ``TrainerWithGrad._train_epoch`` (trainer_with_grad.py, as
    train_with_grad_mamba_lowlight_guided.py builds it: ``MambaLowlightguided`` student and EMA
    teacher, AdamP) on its own methods, losses and model. Its selective scan is ``mamba_ssm``'s
    CUDA kernel: here the release's ``selective_scan_fn`` is the suite's scan
    (``gefu.methods.semi_llie.mamba_scan.selective_scan``, PyTorch off CUDA, the kernel on CUDA
    where built), so both sides scan alike. ``RAMContrastLoss.forward`` runs on the suite's RAM
    encoder (the same Swin-L 384 + ``image_proj`` + tag head, random weights) as its ``ram``:
    its ``__init__`` loads RAM's checkpoint through BERT's tokenizer, a download. MUSIQ, which
    the trainer builds but its loop never calls, is not built; SAM / MobileSAM / RAM's package
    are imported by its loss modules but unused (stubbed). One process (the release wraps the
    student in DataParallel). ``ram_arch``: RAM's architecture, on both sides (default Swin-L
    384: at CPU shapes its three no-grad passes per image dominate both steps)."""
    from gefu.train.aux import build_aux

    encoder = build_aux("ram", semi_llie_aux(ram_arch)["ram"], True, device)

    class Ram(torch.nn.Module):  # RAM's condition_forward, as the release's loss calls it
        def condition_forward(self, image, only_feature=False):
            return *encoder(image), None

    import importlib.util

    scan = {  # the release's own kernel where it runs (CUDA, mamba_ssm built), else the suite's
        "mamba_ssm": {},
        "mamba_ssm__ops": {},
        "mamba_ssm__ops__selective_scan_interface": {
            "selective_scan_fn": selective_scan_fn,
            "selective_scan_ref": None,
        },
    }
    if device.type == "cuda" and importlib.util.find_spec("mamba_ssm") is not None:
        scan = {}
    with official_code(folder, device):
        with stub_modules(
            **scan,
            segment_anything={"SamAutomaticMaskGenerator": None, "sam_model_registry": None},
            segment_anything__utils={},
            segment_anything__utils__transforms={"ResizeLongestSide": None},
            mobile_sam={"sam_model_registry": None},
            ram={"get_transform": None, "get_resize_transform": None},
            ram__models={},
            ram__models__ram={"ram": None},
            ram__models__ram_lora={"ram": None},
        ):
            import trainer_with_grad as tg
            from model_multiscale_mamba_lowlight_guidied import MambaLowlightguided
        from utils import create_emamodel, initialize_weights

        t = tg.TrainerWithGrad.__new__(tg.TrainerWithGrad)  # its __init__ downloads MUSIQ
        t.model = MambaLowlightguided(img_size=size).to(device)
        t.tmodel = create_emamodel(MambaLowlightguided(img_size=size)).to(device)
        initialize_weights(t.model)  # as its train() calls it
        t.loss_unsup, t.loss_grad = torch.nn.L1Loss(), torch.nn.L1Loss()
        t.loss_str = tg.MyLoss()
        t.loss_cr = tg.RAMContrastLoss.__new__(tg.RAMContrastLoss)
        torch.nn.Module.__init__(t.loss_cr)
        t.loss_cr.ram, t.loss_cr.device, t.loss_cr.ab = Ram(), device, False
        t.loss_cr.l1 = torch.nn.L1Loss()
        t.consistency, t.consistency_rampup, t.curiter = 0.2, 100.0, 0
        t.loss_per = tg.PerpetualLoss(tg.vgg16(pretrained=False).features[:16].to(device))
        t.optimizer_s = tg.AdamP(
            t.model.parameters(), lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4
        )
        t.model.train()
        t.freeze_teachers_parameters()
        psnr_train = []
    img_data, label, weak, strong = (
        torch.rand(batch, 3, size, size, device=device) * s for s in (0.3, 1, 0.3, 0.3)
    )

    def step():
        with official_code(folder, device):
            predict_target_u = t.predict_with_out_grad(weak)
            outputs_l, outputs_g = t.model(img_data)
            outputs_ul, _ = t.model(strong)
            structure_loss = t.loss_str(outputs_l, label)
            perpetual_loss = t.loss_per(outputs_l, label)
            get_grad = tg.GetGradientNopadding().to(device)
            gradient_loss = t.loss_grad(get_grad(outputs_l), get_grad(label)) + t.loss_grad(
                outputs_g, get_grad(label)
            )
            loss_sup = structure_loss + 0.3 * perpetual_loss + 0.1 * gradient_loss
            loss_sup.mean().item()
            loss_unsu = t.loss_unsup(outputs_ul, predict_target_u) + t.loss_cr(
                outputs_ul, predict_target_u, strong
            )
            loss_unsu.mean().item()
            total_loss = (t.get_current_consistency_weight(1) * loss_unsu + loss_sup).mean()
            psnr_train.extend(tg.to_psnr(outputs_l, label))
            t.optimizer_s.zero_grad()
            total_loss.backward()
            t.optimizer_s.step()
            with torch.no_grad():
                t.update_teachers(teacher=t.tmodel, itera=t.curiter)
                t.curiter += 1

    return step


OFFICIAL = {
    "zero_dce": zero_dce,
    "zero_dce_pp": zero_dce_pp,
    "scl_lle": scl_lle,
    "sagc": sagc,
    "hvr_ssle": hvr_ssle,
    "semi_llie": semi_llie,
}
METHODS = tuple(OFFICIAL)


# reduced CPU shapes where 2 x 64² takes minutes per step (the enhancers' cost per pixel)
SHAPES = {"semi_llie": (1, 16)}
# the suite's config keys set as the official side runs (see each function's docstring)
SUITE_TOP = {"hvr_ssle": {"compile": False}}


def compare(
    name: str, folder: Path, batch: int, size: int, steps: int, device, ram_arch=None
) -> dict:
    torch.manual_seed(0)
    top = SUITE_TOP.get(name)
    with random_lpips():
        if name == "semi_llie":
            official = semi_llie(folder, batch, size, device, ram_arch)
            top = {"aux": semi_llie_aux(ram_arch)}
        else:
            official = OFFICIAL[name](folder, batch, size, device)
        suite, *_ = build_step(name, device, batch, size, top=top)
        times = {"official": [], "suite": []}
        official(), suite()  # warm-up
        for _ in range(steps):
            times["official"].append(timed(official, device))
            times["suite"].append(timed(suite, device))
    official_s, suite_s = (statistics.median(times[k]) for k in ("official", "suite"))
    return {"official": official_s, "suite": suite_s, "ratio": suite_s / official_s}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("methods", nargs="*", metavar="METHOD", help=f"of {', '.join(METHODS)} (all)")
    p.add_argument("--official", type=Path, required=True, help="folder of the releases' code")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, help="default 2 (Semi-LLIE 1)")
    p.add_argument("--size", type=int, help="default 64 (Semi-LLIE 16)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument(
        "--small-ram",
        action="store_true",
        help="Semi-LLIE: a small RAM encoder of the same layout on both sides (random weights)",
    )
    args = p.parse_args()
    if unknown := set(args.methods) - set(METHODS):
        p.error(f"unknown method(s) {sorted(unknown)}: choose from {', '.join(METHODS)}")
    device = torch.device(args.device)
    print(
        f"device {device}, median of {args.steps} (HVR-SSLE bf16 autocast, as released; else fp32)"
    )
    print("| method | batch x size | official s / step | suite s / step | suite / official |")
    print("|---|---|---|---|---|")
    for name in args.methods or METHODS:
        folder = args.official / name
        if not folder.is_dir():
            print(f"| {name} | | (no official code at {folder}: skipped) | | |")
            continue
        default = SHAPES.get(name, (2, 64))
        batch, size = args.batch or default[0], args.size or default[1]
        ram = SMALL_RAM if args.small_ram else None
        r = compare(name, folder, batch, size, args.steps, device, ram)
        print(
            f"| {name} | {batch} x {size}² | {r['official']:.4f} | {r['suite']:.4f} "
            f"| {r['ratio']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
