"""One folder per learned method (gefu/methods/<name>/): discovery, registries, layering."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gefu.core.manifests import manifests, read_manifest
from gefu.enhancers import ENHANCERS
from gefu.enhancers.released import RELEASES
from gefu.train import METHODS

ROOT = Path(__file__).resolve().parents[1]
METHODS_DIR = ROOT / "gefu" / "methods"
CLASSIC = {"identity", "gamma", "he", "clahe", "msrcr", "lime"}


def run_python(code: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def suite_names(registry) -> set[str]:
    return {name for name in registry.names() if registry.origin(name) == "gefu"}


def test_every_method_folder_is_discovered():
    folders = {p.name for p in METHODS_DIR.iterdir() if (p / "__init__.py").is_file()}
    found = {m.package.rpartition(".")[2] for m in manifests()}
    assert found == folders
    assert found >= {"zero_dce", "scl_lle", "sagc", "hvr_ssle", "semi_llie", "retinexnet", "scuf"}


def test_registries_list_exactly_the_manifests_names():
    enhancers = {n: t for m in manifests() for n, t in m.enhancers.items()}
    training = {n: t for m in manifests() for n, t in m.training.items()}
    # the suite's own names (other tests and installed plugins may register more)
    assert suite_names(ENHANCERS) == set(enhancers) | CLASSIC
    assert suite_names(METHODS) == set(training)
    for m in manifests():  # targets point into their own folder, and resolve
        for name, target in m.enhancers.items():
            assert target.startswith(m.package + "."), target
            assert ENHANCERS.get(name).__module__ == target.partition(":")[0]
        for name, target in m.training.items():
            assert target.startswith(m.package + "."), target
            cls = METHODS.get(name)
            assert cls.__module__ == target.partition(":")[0]
            assert cls.enhancer in ENHANCERS  # what its checkpoints load as
    # every release row comes from a manifest, and names an enhancer that exists
    assert len(RELEASES) == sum(len(m.load_releases()) for m in manifests()) >= 8
    assert all(r.enhancer is None or r.enhancer in ENHANCERS for r in RELEASES.values())


def test_listing_methods_and_releases_imports_no_torch(tmp_path):
    out = run_python(
        """
        import sys
        from gefu.enhancers import ENHANCERS
        from gefu.train import METHODS
        from gefu.enhancers.released import RELEASES
        print(len(ENHANCERS.names()), len(METHODS.names()), len(RELEASES))
        print("torch" in sys.modules)
        """,
        tmp_path,
    )
    assert out.split()[-1] == "False", out


def _gefu_imports(path: Path) -> set[str]:
    """Every ``gefu.*`` module a file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("gefu"):
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gefu")}
    return out


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return base / "__init__.py" if (base / "__init__.py").is_file() else None


def test_networks_and_releases_never_reach_train_or_bench():
    """A folder's component modules (its manifest's ``LAYERS["enhancers"]``: network, release
    layout and their helpers) and what they import, transitively, sit with the enhancers: they
    never import gefu.train or gefu.bench."""
    for m in manifests():
        components = [f"{m.package}.{name}" for name, layer in m.layers.items() if layer != "train"]
        assert {f"{m.package}.{name}" for name in ("network", "release")} <= set(components)
        todo, seen = list(components), set()
        while todo:
            module = todo.pop()
            if module in seen or (path := _module_file(module)) is None:
                continue
            seen.add(module)
            for imported in _gefu_imports(path):
                assert not imported.startswith(("gefu.train", "gefu.bench")), (module, imported)
                todo.append(imported)


def test_manifests_import_nothing():
    for folder in METHODS_DIR.iterdir():
        if (folder / "__init__.py").is_file():
            tree = ast.parse((folder / "__init__.py").read_text())
            assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_a_bad_manifest_is_a_clear_error(tmp_path):
    def manifest(text: str):
        folder = tmp_path / "broken"
        folder.mkdir(exist_ok=True)
        (folder / "__init__.py").write_text(textwrap.dedent(text))
        return read_manifest(folder, "broken")

    with pytest.raises(ValueError, match="broken.*'module:attr'"):
        manifest('ENHANCERS = {"x": "network.Class"}\n')
    with pytest.raises(ValueError, match="must declare ENHANCERS and/or TRAINING"):
        manifest('"""No manifest."""\n')
    with pytest.raises(ValueError, match="must be plain strings"):
        manifest('ENHANCERS = {"x": NAME}\n')
    with pytest.raises(ValueError, match=r"__init__.py:2: a manifest holds only"):
        manifest('"""Doc."""\nimport os\nENHANCERS = {"x": ".network:X"}\n')
    with pytest.raises(ValueError, match="LAYERS places 'network' twice"):
        manifest(
            """
            ENHANCERS = {"x": ".network:X"}
            LAYERS = {"enhancers": ("network",), "train": ("network", "recipe")}
            """
        )
    with pytest.raises(ValueError, match="LAYERS must map enhancers and/or train"):
        manifest('ENHANCERS = {"x": ".network:X"}\nLAYERS = {"bench": ("network",)}\n')
    good = manifest(
        '''
        """A manifest."""

        ENHANCERS = {"x": ".network:X"}
        RELEASES = "other.place:ROWS"
        LAYERS = {"enhancers": ("network",), "train": ("recipe",)}
        '''
    )
    assert good.enhancers == {"x": "broken.network:X"} and good.training == {}
    assert good.releases == "other.place:ROWS"
    assert good.layers == {"network": "enhancers", "recipe": "train"}


def test_discovery_imports_no_method_folder(tmp_path):
    out = run_python(
        """
        import json, sys
        from gefu.core.manifests import manifests
        found = [m.package for m in manifests()]
        print(json.dumps([found, [m for m in sys.modules if m.startswith("gefu.methods")]]))
        """,
        tmp_path,
    )
    found, imported = json.loads(out.splitlines()[-1])
    assert "gefu.methods.zero_dce" in found and imported == []


NEW_METHOD = {
    "__init__.py": '''
        """A tiny learned gain, as a newcomer would add it."""

        ENHANCERS = {"tiny_gain": ".network:TinyGain"}
        TRAINING = {"tiny_gain": ".recipe:TinyGainTraining"}
        LAYERS = {"enhancers": ("network",), "train": ("recipe",)}
        ''',
    "network.py": """
        import torch

        from gefu.enhancers.base import Enhancer


        class TinyGain(Enhancer):
            trainable = True
            needs_weights = True

            def __init__(self, init: float = 1.0):
                super().__init__()
                self.hparams = {"init": init}
                self.gain = torch.nn.Parameter(torch.tensor(float(init)))

            def forward(self, x):
                return (x * self.gain).clamp(0, 1)
        """,
    "recipe.py": """
        import torch

        from gefu.train.method import MethodConfig, TrainMethod


        class TinyGainConfig(MethodConfig):
            lr: float = 0.5


        class TinyGainTraining(TrainMethod):
            enhancer = "tiny_gain"
            Config = TinyGainConfig

            def modules(self):
                from gefu.methods.tiny_gain.network import TinyGain

                self.model = TinyGain()
                return {"model": self.model}

            def optimizers(self, modules):
                opt = torch.optim.SGD(modules["model"].parameters(), self.config.lr)
                return {"model": (opt, None)}

            def datasets(self):
                return {"train": torch.utils.data.TensorDataset(torch.rand(4, 3, 8, 8) * 0.2)}

            def train_step(self, batch, ctx):
                low = batch["train"]
                loss = (self.model(low).mean() - 0.5) ** 2
                ctx.backward(loss, "model")
                ctx.step_optimizer("model")
                return {"loss": float(loss)}
        """,
}


def test_a_new_method_folder_is_registered_for_benchmarks_and_training(tmp_path):
    """One new folder (manifest + network + recipe), no other file edited: the enhancer is
    listed and built by name, its training method trains it, and its checkpoint loads back by
    name (the folder sits beside gefu/methods/, added to the package's search path)."""
    folder = tmp_path / "extra" / "tiny_gain"
    folder.mkdir(parents=True)
    for name, text in NEW_METHOD.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    out = run_python(
        f"""
        import contextlib, io, json
        import gefu.methods
        gefu.methods.__path__.append({str(tmp_path / "extra")!r})

        import torch
        from gefu.cli.main import main
        from gefu.enhancers import ENHANCERS, create_enhancer
        from gefu.train import METHODS

        listing = io.StringIO()
        with contextlib.redirect_stdout(listing):
            main(["list", "enhancers"])
        method = METHODS.get("tiny_gain")(METHODS.get("tiny_gain").Config(), {{}})
        optim = method.optimizers(method.modules())["model"][0]

        class Ctx:
            def backward(self, loss, group):
                loss.backward()

            def step_optimizer(self, group):
                optim.step()
                optim.zero_grad()

        batch = {{"train": method.datasets()["train"].tensors[0]}}
        losses = [method.train_step(batch, Ctx())["loss"] for _ in range(20)]
        method.model.save_pretrained("ckpt")
        with open("ckpt/config.json") as f:
            saved_as = json.load(f)["enhancer"]
        loaded = create_enhancer("tiny_gain", weights="ckpt")
        print(json.dumps({{
            "listed": [l.split()[0] for l in listing.getvalue().splitlines()[1:]],
            "enhancers": ENHANCERS.names(),
            "methods": METHODS.names(),
            "losses": [losses[0], losses[-1]],
            "gain": float(loaded.gain),
            "trained_gain": float(method.model.gain),
            "saved_as": saved_as,
        }}))
        """,
        tmp_path,
    )
    result = json.loads(out.splitlines()[-1])
    assert "tiny_gain" in result["listed"] and "zero_dce" in result["listed"]
    assert "tiny_gain" in result["enhancers"] and "tiny_gain" in result["methods"]
    assert result["losses"][1] < result["losses"][0]
    assert result["gain"] == result["trained_gain"] > 1.0
    assert result["saved_as"] == "tiny_gain"  # the network, built directly, knows its name
