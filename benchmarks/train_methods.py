"""Train each method with its shipped config on the bundled (darkened) photos, on the CPU,
then evaluate the trained checkpoint on the demo set with `gefu run`, against the input.

    python benchmarks/train_methods.py [zero_dce zero_dce_pp ...] [--steps 300] [--crop 64]

Prints steps/s and PSNR / SSIM / NIQE (demo set: 20 photos x 3 severities) of each trained
model and of the un-enhanced input (identity). Not a test: it takes minutes per method.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
METRICS = ["psnr", "ssim", "niqe"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("methods", nargs="*", default=["zero_dce", "zero_dce_pp"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--crop", type=int, help="override the config's data.crop")
    p.add_argument("--batch-size", type=int, help="override the config's batch_size")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a method parameter (params: section), e.g. w_feature=10",
    )
    p.add_argument("--output", default="runs/bench_train")
    args = p.parse_args()

    from gefu.train.config import validate_train_config
    from gefu.train.loop import train

    out = Path(args.output)
    trained, rates = {}, {}
    for method in args.methods:
        cpu = REPO / "configs" / "train" / f"{method}_cpu.yaml"  # the CPU-sized config, if any
        path = cpu if cpu.is_file() else REPO / "configs" / "train" / f"{method}.yaml"
        data = yaml.safe_load(path.read_text())
        data.update(output=str(out / method), device="cpu", validation=None)
        if args.crop:  # the methods' data sections name the patch size "crop" or "size"
            key = "size" if "size" in data.get("data", {}) else "crop"
            data["data"][key] = args.crop
        if args.batch_size:
            data["batch_size"] = args.batch_size
        if "schedule_steps" in data.get("params", {}):  # lr schedules span the run
            data["params"]["schedule_steps"] = args.steps
        for item in args.param:
            key, _, value = item.partition("=")
            data.setdefault("params", {})[key] = yaml.safe_load(value)
        run_dir = out / method
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        t0 = time.perf_counter()
        result = train(validate_train_config(data), steps=args.steps, quiet=True)
        rates[method] = result.steps_per_second
        trained[method] = result.model_dir
        last = result.last.get("loss", result.last.get("total", float("nan")))
        print(
            f"{method}: {result.steps} steps in {time.perf_counter() - t0:.0f} s "
            f"({result.steps_per_second:.2f} steps/s, batch {data['batch_size']}, "
            f"patch {data['data'].get('crop', data['data'].get('size'))}); last loss {last:.4g}"
        )

    config = {
        "name": "trained-methods",
        "device": "cpu",
        "output": str(out / "eval"),
        "enhancers": [{"name": "identity", "id": "input"}]
        + [{"name": m, "id": f"{m} (trained)", "weights": str(d)} for m, d in trained.items()],
        "datasets": [{"name": "demo"}],
        "evaluations": [{"name": "iqa", "params": {"metrics": METRICS}}],
    }
    config_file = out / "eval.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        sys.executable,
        "-m",
        "gefu.cli.main",
        "run",
        str(config_file),
        "--quiet",
        "--force",
    ]
    subprocess.run(cmd, check=True)

    from gefu.bench.store import Store

    with Store(out / "eval") as store:
        run = store.latest_run()
        rows = {}
        for cell in store.run_grid(run["run_id"]):
            values = {m["metric"]: m["value"] for m in store.cell_metrics(cell["cell_key"])}
            rows[cell["enhancer"]] = values
    print(f"\n| model | steps/s (CPU) | {' | '.join(m.upper() for m in METRICS)} |")
    print("|---|---|" + "---|" * len(METRICS))
    for label, values in rows.items():
        method = label.split(" ")[0]
        rate = f"{rates[method]:.2f}" if method in rates else "-"
        cells = " | ".join(_num(values.get(m)) for m in METRICS)
        print(f"| {label} | {rate} | {cells} |")
    return 0


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
