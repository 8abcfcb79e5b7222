"""`handlite train`."""

from __future__ import annotations

import time

import click

from handlite.cli.common import emit_json, err, human, json_option, progress
from handlite.config import DEFAULTS

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.

DATA_HELP = ("Data spec: synth:DIR | cmu:DIR | rhd:DIR | coco:ANNOTATIONS.json[:IMAGE_DIR] "
             "(evaluate also takes plain 'synth').")


@click.command()
@click.option("--data", "-d", "data", required=True, multiple=True,
              help=DATA_HELP + " Repeat to pool several sets (e.g. render:A and synth:B).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Model to write (.keras), rewritten after every epoch.")
@click.option("--size", type=int, default=DEFAULTS.model.input_size, show_default=True,
              help="Input size (multiple of 16).")
@click.option("--epochs", type=int, default=200, show_default=True,
              help="Total epochs (the paper trains 200).")
@click.option("--batch", type=int, default=32, show_default=True)
@click.option("--optimizer", type=click.Choice(["adadelta", "adam", "sgd"]), default="adadelta",
              show_default=True, help="ADADELTA as in the paper.")
@click.option("--lr", type=float, default=None,
              help="Learning rate [default: adadelta 1.0, adam 0.001, sgd 0.01].")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), default="constant",
              show_default=True, help="Learning-rate schedule over all epochs.")
@click.option("--sigma", type=float, default=DEFAULTS.codec.sigma, show_default=True,
              help="Target Gaussian sigma in heatmap pixels.")
@click.option("--val", default=None, help="Validation data spec (default: split --data).")
@click.option("--val-split", type=float, default=0.05, show_default=True,
              help="Share of --data held out for validation when --val is not given.")
@click.option("--val-count", type=int, default=256, show_default=True,
              help="At most this many validation hands.")
@click.option("--steps-per-epoch", type=int, default=None,
              help="Batches per epoch [default: one pass over the training hands].")
@click.option("--limit", type=int, default=None, help="Read at most this many hands.")
@click.option("--loss", type=click.Choice(["mse", "weighted"]), default="mse", show_default=True,
              help="mse: the paper's loss over all 22 maps; weighted: the squared error "
              "weighted by 1 + FG_WEIGHT x foreground target.")
@click.option("--fg-weight", type=float, default=10.0, show_default=True,
              help="Foreground weight of --loss weighted.")
@click.option("--bn-momentum", type=float, default=0.99, show_default=True,
              help="BatchNorm moving-average momentum while training.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-augment", is_flag=True, help="Train on plain crops.")
@click.option("--init", type=click.Path(dir_okay=False), default=None,
              help="Start from this model's weights (any input size).")
@click.option("--backbone-weights", default="imagenet", show_default=True,
              help="Encoder start: 'imagenet' (torchvision's ImageNet MobileNetV2, installed "
                   "by make setup), 'none' (random), or a .pth / Keras MobileNetV2 weights file.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]),
              default="default", show_default=True,
              help="tf.distribute: mirrored = all local devices; multiworker = the workers "
                   "named in TF_CONFIG (run the same command on each).")
@click.option("--schedule-steps", type=int, default=None,
              help="Total optimizer steps of the learning-rate schedule when a run is made of "
                   "phases [default: this phase's epochs x steps].")
@click.option("--schedule-start", type=int, default=0, show_default=True,
              help="Step of the whole schedule at which this phase starts.")
@click.option("--warmup-steps", type=int, default=0, show_default=True,
              help="Linear learning-rate warm-up over this phase's first steps.")
@click.option("--bn-batches", type=int, default=16, show_default=True,
              help="Re-estimate BatchNorm statistics from this many training batches before "
                   "each validation/checkpoint (0: keep the moving averages).")
@click.option("--smoothing", type=float, default=DEFAULTS.model.heatmap_smoothing,
              show_default=True,
              help="Sigma (heatmap cells) of the fixed Gaussian the saved model ends with and "
                   "validation runs with (0: none); the raw network is what trains.")
@click.option("--qat", is_flag=True,
              help="Quantisation-aware fine-tuning of an --init model: the forward pass rounds "
                   "as the full-int8 export does (BatchNorm frozen; int8 ranges re-calibrated "
                   "each epoch from --bn-batches batches). Saves the float network.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir (optimizer state "
              "and epoch count included).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint + CSV log folder [default: <out without .keras>.run/].")
@json_option
def train(data, out, size, epochs, batch, optimizer, lr, schedule, sigma, val, val_split,
          val_count, steps_per_epoch, limit, loss, fg_weight, bn_momentum, seed, no_augment, init,
          backbone_weights, strategy, schedule_steps, schedule_start, warmup_steps, bn_batches,
          smoothing, qat, resume, run_dir, as_json) -> None:
    """Train the paper's network on DATA; checkpoints and a CSV log after every epoch."""
    from handlite.train import TrainConfig, train as run_training

    cfg = TrainConfig(data=list(data) if len(data) > 1 else data[0], out=out, size=size, epochs=epochs, batch=batch,
                      optimizer=optimizer, lr=lr, schedule=schedule, sigma=sigma, val=val,
                      val_split=val_split, val_count=val_count, steps_per_epoch=steps_per_epoch,
                      limit=limit, loss=loss, fg_weight=fg_weight, bn_momentum=bn_momentum,
                      seed=seed,
                      augment=not no_augment, init=init, backbone_weights=backbone_weights,
                      strategy=strategy, schedule_steps=schedule_steps,
                      schedule_start=schedule_start, warmup_steps=warmup_steps,
                      bn_batches=bn_batches, smoothing=smoothing, qat=qat, resume=resume,
                      run_dir=run_dir)
    with progress() as bar:
        task = bar.add_task("training", total=None)

        def report(event, payload):
            if event == "start":
                err.print(f"training at {payload['size']}: {payload['train_hands']} hands, "
                          f"{payload['val_hands']} for validation, {payload['steps_per_epoch']}"
                          f" steps/epoch, epochs {payload['initial_epoch'] + 1}.."
                          f"{payload['epochs']}; run folder {payload['run_dir']}")
                bar.update(task, total=payload["steps_per_epoch"], completed=0)
            elif event == "batch":
                bar.update(task, completed=payload["step"],
                           description=f"loss {payload['loss']:.5f}")
                if not err.is_terminal and payload["step"] % 25 == 0:
                    # a log file gets no live bar: leave a trace of progress instead
                    err.print(f"  step {payload['step']}/{payload['steps']} loss "
                              f"{payload['loss']:.5f} ({time.strftime('%H:%M:%S')})")
            elif event == "epoch":
                err.print(_epoch_line(payload))
                # a finished epoch shows full; the next epoch's first batch restarts the count
                total = bar.tasks[bar.task_ids.index(task)].total
                bar.update(task, completed=total)

        summary = run_training(cfg, report)
    if as_json:
        emit_json(summary)
    else:
        human(as_json).print(f"trained {summary['epochs_run']} epochs in {summary['seconds']} s;"
                             f" model: {summary['out']}")


def _epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.5f}"]
    if "val_auc" in row:
        parts += [f"val_loss {row['val_loss']:.5f}", f"val AUC {row['val_auc']:.3f}",
                  f"median EPE {row['val_epe_median_px']:.2f} px"]
    if "val_auc_int8_sim" in row:
        parts.append(f"simulated int8 AUC {row['val_auc_int8_sim']:.3f}")
    parts.append(f"{row['seconds']} s")
    return ", ".join(parts)
