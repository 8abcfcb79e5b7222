"""Train the paper's network on heatmap targets; evaluate a model on a data spec.

Training (paper sec. 4): crops around the hand, the paper's augmentation, Gaussian targets for
the 21 keypoints plus the background map, mean squared error over all K+1 = 22 maps, batch 32,
ADADELTA by default. Each epoch ends with a validation pass that decodes keypoints with
`HeatmapCodec` and logs PCK/AUC next to the losses in a CSV file, then checkpoints.

Files of a run (`run_dir`, default `<out>.run/`):
    state.keras   the compiled model with its optimizer state (what `--resume` continues)
    log.csv       epoch, loss, val_loss, val_auc, val_epe_median_px, ... , lr, seconds
    run.json      the configuration
The model at `out` is the lean network (no optimizer state), rewritten after every epoch.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from handlite.codec import HeatmapCodec
from handlite.config import DEFAULTS
from handlite.data import load_eval_set
from handlite.data.coco import split_coco_spec
from handlite.data.crops import PAPER_AUGMENT, make_crop
from handlite.data.pipeline import iterate_examples, make_dataset, normalize
from handlite.data.sources import parse_spec, read_records
from handlite.errors import DataError, ModelError, UsageError, choice_error
from handlite.foreign import evaluate_foreign, load_foreign
from handlite.io import atomic_open
from handlite.metrics import keypoint_metrics, mean_hand_baseline
from handlite.model import (build_model, load_model, raw_network, save_model,
                            with_smoothing)

OPTIMIZERS = ("adadelta", "adam", "sgd")
#: Learning rates when none is given. ADADELTA's 1.0 is Zeiler's formulation (the paper's
#: Keras 2 default); Keras 3 defaults it to 0.001, which barely moves in a short run.
DEFAULT_LR = {"adadelta": 1.0, "adam": 1e-3, "sgd": 1e-2}
SCHEDULES = ("constant", "cosine")
LOSSES = ("mse", "weighted")
STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class TrainConfig:
    #: one data spec, or several (their hands are pooled, e.g. rendered + synthetic)
    data: str | list[str]
    out: str
    size: int = DEFAULTS.model.input_size
    epochs: int = 200
    batch: int = 32
    optimizer: str = "adadelta"
    lr: float | None = None
    schedule: str = "constant"
    sigma: float = DEFAULTS.codec.sigma
    val: str | None = None
    val_split: float = 0.05
    val_count: int = 256
    steps_per_epoch: int | None = None
    seed: int = 0
    augment: bool = True
    init: str | None = None
    #: "imagenet" (torchvision's ImageNet MobileNetV2, converted by `backbone`), "none" (random
    #: encoder) or a weights file; ignored with --init / --resume
    backbone_weights: str | None = "imagenet"
    resume: bool = False
    run_dir: str | None = None
    limit: int | None = None
    #: BatchNorm moving-average momentum while training. Keras' MobileNetV2 uses 0.999, made
    #: for ImageNet-length runs: after a few thousand steps its moving statistics still carry
    #: a fifth of their initial values and inference-mode outputs are garbage. 0.99 settles
    #: within a few hundred steps.
    bn_momentum: float = 0.99
    #: "mse": the paper's mean squared error over all K+1 maps. "weighted": the same squared
    #: error weighted by 1 + fg_weight * (foreground target) per pixel and map, so the few
    #: pixels near a keypoint are not drowned by the background (faster to learn peaks).
    loss: str = "mse"
    fg_weight: float = 10.0
    #: One learning-rate schedule over a run made of phases (e.g. 112 then 224 with --init):
    #: the cosine spans `schedule_steps` optimizer steps in all (default: this phase's
    #: epochs x steps) and this phase starts at step `schedule_start` of it.
    schedule_steps: int | None = None
    schedule_start: int = 0
    #: linear warm-up over the first steps of a phase: a fresh Adam on top of ImageNet or
    #: earlier-phase weights takes full-size steps from its first update otherwise
    warmup_steps: int = 0
    #: BatchNorm statistics re-estimated before every validation and checkpoint from this
    #: many training batches (the exact mean over them, not a moving average), so what
    #: validation measures is what is saved and shipped; 0 keeps the moving averages
    bn_batches: int = 16
    #: tf.distribute: "mirrored" (all local devices), "multiworker" (TF_CONFIG workers)
    strategy: str = "default"
    #: sigma (heatmap cells) of the fixed heatmap smoothing the saved model carries and
    #: validation runs with (`model.with_smoothing`; 0: none). The raw network is trained.
    smoothing: float = DEFAULTS.model.heatmap_smoothing
    #: quantisation-aware fine-tuning (`handlite.qat`): the forward pass rounds weights and
    #: activations as the full-int8 export does, BatchNorm stays frozen on its moving
    #: statistics, and the int8 ranges are re-calibrated from `bn_batches` training batches
    #: at the start of every epoch. Fine-tunes a trained network (--init or --resume); the
    #: saved model is the float network, exported as usual.
    qat: bool = False

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise choice_error("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise choice_error("learning-rate schedule", self.schedule, SCHEDULES)
        for name in ("epochs", "batch", "val_count"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch <= 0:
            raise UsageError(f"steps per epoch must be positive, got {self.steps_per_epoch}")
        if self.lr is not None and not self.lr > 0:
            raise UsageError(f"learning rate must be positive, got {self.lr}")
        if self.loss not in LOSSES:
            raise choice_error("loss", self.loss, LOSSES)
        if self.fg_weight < 0:
            raise UsageError(f"foreground weight must be >= 0, got {self.fg_weight}")
        if not 0 < self.bn_momentum < 1:
            raise UsageError(f"BatchNorm momentum must be within (0, 1), got {self.bn_momentum}")
        if not 0 <= self.val_split < 1:
            raise UsageError(f"validation split must be within [0, 1), got {self.val_split}")
        if self.strategy not in STRATEGIES:
            raise choice_error("distribution strategy", self.strategy, STRATEGIES)
        if self.schedule_steps is not None and self.schedule_steps <= 0:
            raise UsageError(f"schedule steps must be positive, got {self.schedule_steps}")
        if not (math.isfinite(self.smoothing) and self.smoothing >= 0):
            raise UsageError(f"smoothing sigma must be >= 0, got {self.smoothing}")
        if self.schedule_start < 0 or self.warmup_steps < 0 or self.bn_batches < 0:
            raise UsageError("schedule start, warm-up steps and BN batches must be >= 0")
        if not str(self.out).endswith(".keras"):
            raise UsageError(f"--out must name a .keras file, got {self.out}")
        if self.qat and not (self.init or self.resume):
            raise UsageError("--qat fine-tunes a trained network: give --init MODEL (or "
                             "--resume a --qat run)")
        if self.qat and self.bn_batches <= 0:
            raise UsageError("--qat calibrates its int8 ranges from --bn-batches training "
                             "batches: give a positive count")
        if self.init and self.resume:
            raise UsageError("--init and --resume exclude each other: --resume continues the "
                             "run in the run folder")
        self._check_data()

    def _check_data(self) -> None:
        # before keras loads (seconds): a mistyped folder fails at once, not after the import
        for spec in self.data if isinstance(self.data, (list, tuple)) else [self.data]:
            kind, path = parse_spec(str(spec))
            if kind == "coco":
                where = Path(split_coco_spec(path)[0]) if path else None
                if where is None or not where.is_file():
                    raise DataError(f"COCO annotation file not found: {where}")
            elif not path:
                raise UsageError(f"data spec {spec!r} needs a folder: {kind}:DIR")
            elif not Path(path).is_dir():
                raise DataError(f"data folder not found: {path}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def paths(self) -> tuple[Path, Path]:
        out = Path(self.out)
        run = Path(self.run_dir) if self.run_dir else out.with_name(out.stem + ".run")
        return out, run


def _split(records, cfg: TrainConfig):
    """(train, validation) records: --val if given, else a seeded share of the data."""
    if cfg.val:
        return records, read_records(cfg.val, limit=cfg.val_count)
    n_val = min(cfg.val_count, int(round(len(records) * cfg.val_split)))
    if n_val == 0:
        return records, []
    order = np.random.default_rng(cfg.seed + 7919).permutation(len(records))
    val_idx = set(order[:n_val].tolist())
    return ([r for i, r in enumerate(records) if i not in val_idx],
            [records[i] for i in sorted(val_idx)])


@functools.cache
def _phased_schedule_class():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="handlite")
    class PhasedSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """Cosine (or constant) learning rate at global step `start + step` of `total`, times a
        linear warm-up over this phase's first `warmup` steps."""

        def __init__(self, lr, total, start=0, warmup=0, alpha=0.02, cosine=True):
            self.lr, self.total, self.start = float(lr), int(total), int(start)
            self.warmup, self.alpha, self.cosine = int(warmup), float(alpha), bool(cosine)

        def __call__(self, step):
            step = ops.cast(step, "float32")
            rate = ops.convert_to_tensor(self.lr, "float32")
            if self.cosine:
                t = ops.minimum((step + self.start) / max(self.total, 1), 1.0)
                rate = rate * (self.alpha + (1 - self.alpha) * 0.5 * (1 + ops.cos(math.pi * t)))
            if self.warmup:
                rate = rate * ops.minimum((step + 1) / self.warmup, 1.0)
            return rate

        def get_config(self):
            return {"lr": self.lr, "total": self.total, "start": self.start,
                    "warmup": self.warmup, "alpha": self.alpha, "cosine": self.cosine}

    return PhasedSchedule


def _optimizer(cfg: TrainConfig, total_steps: int):
    import keras

    lr = cfg.learning_rate
    if cfg.schedule == "cosine" or cfg.warmup_steps or cfg.schedule_start:
        lr = _phased_schedule_class()(lr, cfg.schedule_steps or total_steps,
                                      start=cfg.schedule_start, warmup=cfg.warmup_steps,
                                      cosine=cfg.schedule == "cosine")
    if cfg.optimizer == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=lr, rho=0.95, epsilon=1e-6)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)


def heatmap_loss(kind: str = "mse", fg_weight: float = 10.0):
    """The training loss on (N, H, W, K+1) maps (background last); see `TrainConfig.loss`."""
    import keras
    from keras import ops

    if kind == "mse":
        return keras.losses.MeanSquaredError()

    def weighted_mse(y_true, y_pred):
        # foreground of keypoint maps is the target itself; of the background map, 1 - target
        fg = ops.concatenate([y_true[..., :-1], 1.0 - y_true[..., -1:]], axis=-1)
        return ops.mean((1.0 + fg_weight * fg) * ops.square(y_pred - y_true), axis=(1, 2, 3))

    return weighted_mse


def _set_bn_momentum(model, momentum: float) -> int:
    """Set the moving-average momentum of every BatchNormalization layer (read at call time)."""
    import keras

    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


def recalibrate_bn(model, batches) -> int:
    """Set every BatchNorm's moving statistics to the mean of the batch statistics over
    `batches` (iterable of input arrays): a forward pass in training mode with momentum
    k / (k + 1) for the k-th batch leaves the running average equal to the plain mean.
    Returns the number of batches used. Weights other than the BN statistics do not change."""
    import keras

    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    n = 0
    try:
        for k, x in enumerate(batches):
            for layer in layers:
                layer.momentum = k / (k + 1)
            model(x, training=True)
            n += 1
    finally:
        for layer, m in zip(layers, saved):
            layer.momentum = m
    return n


def _lean_copy(model):
    """The same network without optimizer state (what ships)."""
    import keras

    # clone_model keeps the compiled optimizer (and its slots in the saved file); a model
    # rebuilt from the config does not
    lean = keras.Model.from_config(model.get_config())
    lean.set_weights(model.get_weights())
    return lean


def predict_keypoints(model, images_uint8: np.ndarray, codec: HeatmapCodec,
                      batch: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, S, S, 3) uint8 RGB crops -> (keypoints (N, K, 2) px, scores (N, K), maps)."""
    maps = []
    for i in range(0, len(images_uint8), batch):
        x = normalize(images_uint8[i:i + batch])
        maps.append(np.asarray(model(x, training=False)))
    maps = np.concatenate(maps) if maps else np.zeros((0,) + codec.shape, np.float32)
    kp, scores = codec.decode(maps)
    return kp, scores, maps


def _number(text: str | None):
    """A CSV cell as the number it holds ('1' -> 1, '0.5' -> 0.5, '' -> None), else the text."""
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _read_log(path: Path) -> list[dict]:
    """log.csv rows with numbers as numbers (a summary's JSON must not say "epoch": "1")."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _bn_batches(records, codec: HeatmapCodec, cfg: TrainConfig, epoch: int):
    """`cfg.bn_batches` augmented training batches (inputs only), seeded per epoch."""
    examples = iterate_examples(records, codec, seed=cfg.seed * 1000 + epoch + 104729,
                                augment=PAPER_AUGMENT if cfg.augment else None)
    for _ in range(cfg.bn_batches):
        yield np.stack([next(examples)[0] for _ in range(cfg.batch)])


def _epoch_end(cfg: TrainConfig, codec: HeatmapCodec, val, out: Path, run: Path, report,
               records=(), chief: bool = True, sim=None):
    """A Keras callback: BN statistics, validation, CSV log row and checkpoints at the end of
    each epoch (only the chief worker writes). With `sim` (--qat) the model being fit is that
    quantisation simulation of `sim.float_model`, which is what is saved: ranges are
    calibrated at each epoch's start, BN stays frozen, and validation also reports the
    simulated int8 AUC."""
    import keras

    simulated = (with_smoothing(sim.model, cfg.smoothing, target_sigma=cfg.sigma)
                 if sim is not None and val is not None and chief else None)

    class EpochEnd(keras.callbacks.Callback):
        t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            if sim is not None:
                sim.calibrate(_bn_batches(records, codec, cfg, epoch))

        def on_epoch_end(self, epoch, logs=None):
            model = sim.float_model if sim is not None else self.model
            row = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", math.nan))}
            if cfg.bn_batches and records and sim is None:
                recalibrate_bn(model, _bn_batches(records, codec, cfg, epoch))
            if not chief:
                return
            shipped = with_smoothing(_lean_copy(model), cfg.smoothing, target_sigma=cfg.sigma)
            if val is not None:
                row.update(validate(shipped, val, codec))
                if simulated is not None:
                    row["val_auc_int8_sim"] = validate(simulated, val, codec)["val_auc"]
            row["lr"] = float(np.asarray(model.optimizer.learning_rate))
            row["seconds"] = round(time.perf_counter() - self.t0, 1)
            _append_csv(run / "log.csv", row)
            save_model(model, run / "state.keras")
            save_model(shipped, out)
            report("epoch", row)

    return EpochEnd()


def _append_csv(path: Path, row: dict) -> None:
    rows = _read_log(path)
    fields = list(dict.fromkeys([*(rows[0].keys() if rows else []), *row.keys()]))
    rows.append({k: row.get(k, "") for k in fields})
    with atomic_open(path, "w", newline="", fsync=False) as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def validate(model, val, codec: HeatmapCodec) -> dict:
    """val = (images uint8, keypoints, visible, targets) -> val_loss and keypoint metrics."""
    images, keypoints, visible, targets = val
    pred, _, maps = predict_keypoints(model, images, codec)
    m = keypoint_metrics(pred, keypoints, visible)
    return {"val_loss": float(np.mean((maps - targets) ** 2)), "val_auc": m["auc"],
            "val_epe_mean_px": m["epe_mean_px"], "val_epe_median_px": m["epe_median_px"],
            "val_pck_10px": m["pck_10px"]}


def _prepare_validation(records, codec: HeatmapCodec):
    if not records:
        return None
    crops = [make_crop(r, codec.input_size) for r in records]
    images = np.stack([c.image for c in crops])
    keypoints = np.stack([c.keypoints for c in crops])
    visible = np.stack([c.visible for c in crops])
    targets = np.stack([codec.encode(c.keypoints, c.label_mask) for c in crops])
    return images, keypoints, visible, targets


def make_strategy(name: str):
    """(tf.distribute strategy, is_chief) for a strategy name. "multiworker" reads the
    cluster from TF_CONFIG (every worker runs the same command); only the chief writes the
    log and checkpoints."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy(), True
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    if not tf_config.get("cluster"):
        raise UsageError("--strategy multiworker needs TF_CONFIG with a cluster and this "
                         "worker's task (see README, Training)")
    task = tf_config.get("task") or {}
    chief = task.get("type") == "chief" or (
        task.get("type") == "worker" and int(task.get("index", 0)) == 0
        and "chief" not in tf_config["cluster"])
    return tf.distribute.MultiWorkerMirroredStrategy(), chief


def train(cfg: TrainConfig, report=lambda event, payload: None) -> dict:
    """Run a training; returns a summary (epochs run, last row of the log, paths, seconds).

    `report(event, payload)` receives ("start", info), ("batch", {"step", "steps", "loss"}),
    ("epoch", row) so a CLI can show progress.
    """
    cfg.check()
    import keras

    out, run = cfg.paths()
    run.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    codec = HeatmapCodec(cfg.size, sigma=cfg.sigma)

    specs = [cfg.data] if isinstance(cfg.data, str) else list(cfg.data)
    records = [r for spec in specs for r in read_records(spec, limit=cfg.limit)]
    train_records, val_records = _split(records, cfg)
    if not train_records:
        raise UsageError(f"no training hands left in {cfg.data} after the validation split")
    steps = cfg.steps_per_epoch or math.ceil(len(train_records) / cfg.batch)

    strategy, chief = make_strategy(cfg.strategy)
    initial_epoch = 0
    state = run / "state.keras"
    with strategy.scope():
        if cfg.resume:
            if not state.is_file():
                raise ModelError(f"nothing to resume: {state} does not exist")
            _phased_schedule_class()  # registered for deserialisation
            model = keras.saving.load_model(
                str(state),
                custom_objects={"weighted_mse": heatmap_loss("weighted", cfg.fg_weight)})
            initial_epoch = len(_read_log(run / "log.csv"))
            if model.input_shape[1] != cfg.size:
                raise UsageError(f"the run in {run} trains at {model.input_shape[1]}, not "
                                 f"{cfg.size}; start a new run with --init to change the size")
        else:
            if cfg.init:
                # the raw network trains; a saved model's smoothing is attached again on save
                model = raw_network(load_model(cfg.init, input_size=cfg.size))
            else:
                model = build_model(cfg.size, backbone_weights=cfg.backbone_weights)
            model.compile(optimizer=_optimizer(cfg, steps * cfg.epochs),
                          loss=heatmap_loss(cfg.loss, cfg.fg_weight), jit_compile=False)
            if chief:
                (run / "log.csv").unlink(missing_ok=True)
        fit, sim = model, None
        if cfg.qat:
            from handlite.qat import QuantizationSimulation

            sim = QuantizationSimulation(model)
            fit = sim.model
            # the optimizer's slots belong to the float network's variables (the simulation
            # shares them), so state.keras holds the float network and resumes like any run
            model.optimizer.build(model.trainable_variables)
            fit.compile(optimizer=model.optimizer, loss=heatmap_loss(cfg.loss, cfg.fg_weight),
                        jit_compile=False)
    _set_bn_momentum(model, cfg.bn_momentum)
    (run / "run.json").write_text(json.dumps(
        {**asdict(cfg), "train_hands": len(train_records), "val_hands": len(val_records),
         "steps_per_epoch": steps}, indent=2))

    val = _prepare_validation(val_records, codec)
    # a separate augmented stream per non-chief worker (the chief's seed stays the plain one)
    worker = 0 if chief else 1 + int(strategy.cluster_resolver.task_id)
    dataset = make_dataset(train_records, codec, cfg.batch,
                           seed=cfg.seed + initial_epoch + 7777 * worker,
                           augment=PAPER_AUGMENT if cfg.augment else None)
    if cfg.strategy == "multiworker":
        import tensorflow as tf

        # each worker draws its own augmented stream (seeded by its index) instead of
        # sharding a generator, which tf.data cannot split by file
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        dataset = dataset.with_options(options)
    report("start", {"train_hands": len(train_records), "val_hands": len(val_records),
                     "steps_per_epoch": steps, "initial_epoch": initial_epoch,
                     "epochs": cfg.epochs, "size": cfg.size, "run_dir": str(run)})

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            report("batch", {"step": batch + 1, "steps": steps,
                             "loss": float((logs or {}).get("loss", math.nan))})

    start = time.perf_counter()
    if initial_epoch < cfg.epochs:
        fit.fit(dataset, epochs=cfg.epochs, initial_epoch=initial_epoch,
                steps_per_epoch=steps, verbose=0, shuffle=False,
                callbacks=[Batches(), _epoch_end(cfg, codec, val, out, run, report,
                                                 train_records, chief, sim=sim)])
    log = _read_log(run / "log.csv")
    return {"out": str(out), "run_dir": str(run), "epochs_run": cfg.epochs - initial_epoch,
            "epochs_total": len(log), "seconds": round(time.perf_counter() - start, 1),
            "train_hands": len(train_records), "val_hands": len(val_records),
            "last": log[-1] if log else None}


def evaluate(model_path: str, data: str, size: int = DEFAULTS.model.input_size,
             count: int | None = None, sigma: float = DEFAULTS.codec.sigma,
             compare: list[str] | None = None) -> dict:
    """Keypoint metrics of a .keras model on a data spec at input `size` (see `metrics`);
    `compare`: foreign landmark .tflite files scored on the very same crops (`foreign.py`),
    listed under "compare"."""
    if compare:
        for path in compare:  # a bad foreign file fails before the long part
            load_foreign(path)
    model = load_model(model_path, input_size=size)
    codec = HeatmapCodec(size, sigma=sigma)
    eval_set = load_eval_set(data, size, count)
    start = time.perf_counter()
    pred, _, _ = predict_keypoints(model, eval_set.images, codec)
    seconds = time.perf_counter() - start
    result = keypoint_metrics(pred, eval_set.keypoints, eval_set.visible, eval_set.head_size)
    baseline = mean_hand_baseline(eval_set.keypoints, eval_set.visible)
    out = {"model": str(model_path), "data": data, "size": size, **result,
           "baseline_mean_hand": baseline, "predict_seconds": round(seconds, 2)}
    if compare:
        out["compare"] = [evaluate_foreign(path, *eval_set) for path in compare]
    return out
