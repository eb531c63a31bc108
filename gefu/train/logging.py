"""Training logs: ``metrics.csv`` always (long format: step, split, name, value), TensorBoard
under ``tensorboard/`` when ``torch.utils.tensorboard`` works. Resuming at step N drops the
rows a killed run wrote after N, so the log reads as one uninterrupted run."""

from __future__ import annotations

import csv
from pathlib import Path

FIELDS = ("step", "split", "name", "value")


class TrainLogger:
    def __init__(self, output: Path, start_step: int = 0, tensorboard: bool = True):
        self.file = Path(output) / "metrics.csv"
        self.file.parent.mkdir(parents=True, exist_ok=True)
        rows = read_log(self.file) if start_step > 0 and self.file.is_file() else []
        rows = [r for r in rows if r["step"] <= start_step]
        with self.file.open("w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows({**r, "value": repr(r["value"])} for r in rows)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(
                    str(Path(output) / "tensorboard"), purge_step=start_step + 1
                )
            except Exception:  # tensorboard not installed or broken: CSV only
                self.tb = None

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        with self.file.open("a", newline="") as f:
            writer = csv.writer(f)
            for name, value in values.items():
                writer.writerow([step, split, name, repr(float(value))])
        if self.tb is not None:
            for name, value in values.items():
                self.tb.add_scalar(f"{split}/{name}", float(value), step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_log(file: str | Path) -> list[dict]:
    """The rows of a ``metrics.csv`` (values as floats; ``repr`` round-trips them exactly)."""
    with Path(file).open(newline="") as f:
        return [
            {
                "step": int(r["step"]),
                "split": r["split"],
                "name": r["name"],
                "value": float(r["value"]),
            }
            for r in csv.DictReader(f)
        ]
