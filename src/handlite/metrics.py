"""Keypoint accuracy in the hand3d `EvalUtil` convention (Zimmermann & Brox), used by the paper.

Shapes: N hands, K keypoints: predictions and ground truth (N, K, 2) px, visible (N, K).

For each keypoint k, the distances d_k of its visible ground-truth joints give
    EPE mean / median (px)    mean(d_k) / median(d_k)
    PCK_k(t)                  share of d_k <= t, over t in linspace(0, 30, 20) px
    AUC_k                     trapz(PCK_k, t) / 30
and the reported numbers are the averages over keypoints (keypoints never visible are left
out). PCK at 5, 10 and 20 px uses the same per-keypoint-then-average rule. With a head size per
hand, PCKh uses d / head_size over linspace(0, 1, 20) (AUC normalised by 1).
"""

from __future__ import annotations

import numpy as np

from handlite.errors import UsageError
from handlite.keypoints import KEYPOINT_NAMES

PCK_THRESHOLDS_PX = np.linspace(0.0, 30.0, 20)
PCKH_THRESHOLDS = np.linspace(0.0, 1.0, 20)
PCK_AT_PX = (5, 10, 20)
PCKH_AT = (0.2, 0.5, 0.7)
CONVENTION = ("hand3d EvalUtil: per keypoint over visible joints, then averaged over "
              "keypoints; PCK over linspace(0, 30, 20) px; AUC = trapz / 30")


def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def _per_keypoint(dist: np.ndarray, mask: np.ndarray, thresholds: np.ndarray):
    """Per-keypoint (mean, median, pck curve (T,)); NaN where a keypoint has no sample."""
    k = dist.shape[1]
    mean = np.full(k, np.nan)
    median = np.full(k, np.nan)
    curves = np.full((k, len(thresholds)), np.nan)
    for j in range(k):
        d = dist[mask[:, j], j]
        if d.size:
            mean[j] = d.mean()
            median[j] = np.median(d)
            curves[j] = (d[:, None] <= thresholds[None, :]).mean(axis=0)
    return mean, median, curves


def _check(pred, gt, visible):
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise UsageError(f"predictions {pred.shape} and ground truth {gt.shape} must both be "
                         "(N, K, 2)")
    vis = np.ones(gt.shape[:2], bool) if visible is None else np.asarray(visible) > 0
    if vis.shape != gt.shape[:2]:
        raise UsageError(f"visible must be (N, K) = {gt.shape[:2]}, got {vis.shape}")
    return pred, gt, vis & np.isfinite(gt).all(axis=-1)


def keypoint_metrics(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None,
                     head_size: np.ndarray | None = None) -> dict:
    """All metrics as a JSON-ready dict (see the module docstring). Non-finite predictions
    count as infinitely far (a failure, never silently skipped)."""
    pred, gt, vis = _check(pred, gt, visible)
    if not vis.any():
        raise UsageError("no visible ground-truth keypoint to evaluate")
    dist = np.linalg.norm(pred - gt, axis=-1)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    mean, median, curves = _per_keypoint(dist, vis, PCK_THRESHOLDS_PX)
    auc_k = np.array([_trapz(c, PCK_THRESHOLDS_PX) for c in curves]) / PCK_THRESHOLDS_PX[-1]
    result = {
        "convention": CONVENTION,
        "hands": int(gt.shape[0]),
        "keypoints_evaluated": int(vis.sum()),
        "auc": float(np.nanmean(auc_k)),
        "epe_mean_px": float(np.nanmean(mean)),
        "epe_median_px": float(np.nanmean(median)),
    }
    for t in PCK_AT_PX:
        result[f"pck_{t}px"] = float(np.nanmean(
            [np.mean(dist[vis[:, j], j] <= t) for j in range(gt.shape[1]) if vis[:, j].any()]))
    result["pck_curve"] = {"thresholds_px": PCK_THRESHOLDS_PX.tolist(),
                           "pck": np.nanmean(curves, axis=0).tolist()}
    names = KEYPOINT_NAMES if gt.shape[1] == len(KEYPOINT_NAMES) else tuple(
        str(i) for i in range(gt.shape[1]))
    result["per_keypoint"] = {
        name: {"epe_mean_px": _num(mean[j]), "epe_median_px": _num(median[j]),
               "auc": _num(auc_k[j]), "count": int(vis[:, j].sum())}
        for j, name in enumerate(names)}
    if head_size is not None:
        result.update(_pckh(dist, vis, head_size))
    return result


def _pckh(dist: np.ndarray, vis: np.ndarray, head_size) -> dict:
    head = np.asarray(head_size, np.float64).reshape(-1)
    if head.shape != (dist.shape[0],):
        raise UsageError(f"head_size must have one value per hand ({dist.shape[0]}), got "
                         f"{head.shape}")
    ok = np.isfinite(head) & (head > 0)
    if not ok.any():
        return {}
    norm = dist[ok] / head[ok, None]
    mask = vis[ok]
    _, _, curves = _per_keypoint(norm, mask, PCKH_THRESHOLDS)
    auc_k = np.array([_trapz(c, PCKH_THRESHOLDS) for c in curves]) / PCKH_THRESHOLDS[-1]
    out = {"pckh_auc": float(np.nanmean(auc_k)),
           "pckh_curve": {"thresholds": PCKH_THRESHOLDS.tolist(),
                          "pck": np.nanmean(curves, axis=0).tolist()}}
    for t in PCKH_AT:
        out[f"pckh_{t:g}"] = float(np.nanmean(
            [np.mean(norm[mask[:, j], j] <= t) for j in range(norm.shape[1])
             if mask[:, j].any()]))
    return out


def mean_hand_baseline(gt: np.ndarray, visible: np.ndarray | None = None) -> dict:
    """AUC and EPE of predicting the same hand for every crop: each keypoint's mean ground-truth
    position over the set (a slightly optimistic constant, it peeks at the answers).

    Crops centred on the hand keep every keypoint near the middle, so a constant already
    scores well at small input sizes (AUC ~0.41 at 112, ~0.12 at 224 on synthetic hands): a
    model's numbers mean something only next to this one.
    """
    gt = np.asarray(gt, np.float64)
    vis = np.ones(gt.shape[:2], bool) if visible is None else np.asarray(visible) > 0
    weights = vis[..., None].astype(np.float64)
    mean = (gt * weights).sum(axis=0) / np.maximum(weights.sum(axis=0), 1)
    res = keypoint_metrics(np.broadcast_to(mean, gt.shape), gt, visible)
    return {"auc": res["auc"], "epe_mean_px": res["epe_mean_px"],
            "epe_median_px": res["epe_median_px"]}


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def plot_pck(results: dict[str, dict], path, title: str = "PCK") -> None:
    """Write PCK curves (one per entry of `results`, label -> keypoint_metrics dict) to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for label, res in results.items():
        curve = res["pck_curve"]
        ax.plot(curve["thresholds_px"], curve["pck"],
                label=f"{label} (AUC {res['auc']:.3f})")
    ax.set_xlabel("threshold (px)")
    ax.set_ylabel("PCK")
    ax.set_xlim(0, 30)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(str(path))
    plt.close(fig)
