"""A rich live display of training: a bar per epoch with loss, accuracy, learning rate and speed."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichProgress:
    """Implements training.Observer; the CLI uses it as a context manager around train()."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=console, transient=True,
        )
        self.epoch_task = self.batch_task = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def on_start(self, run_id, config, train_images, steps):
        self.console.print(f"run {run_id}: {config.model} on {train_images:,} training images, "
                           f"batch {config.recipe.batch_size}, "
                           + (f"up to {config.recipe.epochs} epochs" if config.recipe.epochs > 1 else "1 epoch"))
        self.epoch_task = self.progress.add_task("epochs", total=config.recipe.epochs, stats="")
        self.batch_task = self.progress.add_task("epoch 1", total=steps, stats="")

    def on_batch(self, step):  # called a few times a second from training's poller thread
        self.progress.update(self.batch_task, completed=step)

    def on_epoch(self, r):
        val = "–" if r.val_accuracy is None else f"{100 * r.val_accuracy:.2f}%"
        stats = (f"loss {r.loss:.4f}  acc {100 * r.accuracy:.2f}%  val {val}  lr {r.lr:.2e}  "
                 f"{r.images_per_s:,.0f} img/s")
        self.progress.update(self.epoch_task, completed=r.epoch, stats=stats)
        self.progress.reset(self.batch_task, description=f"epoch {r.epoch + 1}")
        self.progress.console.print(f"epoch {r.epoch:>3}  {stats}  [{r.seconds:.1f}s]", highlight=False)


class SweepProgress:
    """A sweep's bar over its trials (with the best validation so far) and one rounded line per trial as
    it ends; `ended` keeps this command's trials for the closing table. Use as a context manager, and
    pass `on_trial` to sweeps.run_sweep."""

    def __init__(self, console: Console, name: str, total: int, completed: int = 0):
        self.ended: list[dict] = []
        self.progress = Progress(TextColumn("[bold]sweep {task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[best]}"), TimeElapsedColumn(), console=console,
                                 transient=True)
        self.task = self.progress.add_task(name, total=total, completed=min(total, completed), best="")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def on_trial(self, row: dict) -> None:
        from .sweeps import format_params, rounded  # noqa: PLC0415

        self.ended.append(row)
        scored = [r["val_accuracy"] for r in self.ended if r["val_accuracy"] is not None and r["state"] == "finished"]
        self.progress.update(self.task, advance=0 if row["state"] == "failed" else 1,
                             best=f"best val {100 * max(scored):.2f} %" if scored else "")
        params = {k: v for k, v in row.items() if k not in ("trial", "run", "state", "val_accuracy")}
        self.progress.console.print(f"trial {row['trial']}: {row['state']}, val "
                                    f"{rounded(row['val_accuracy'], 'val_accuracy')} %  {format_params(params)}",
                                    highlight=False)
