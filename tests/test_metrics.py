import numpy as np
import pytest

from handlite.errors import UsageError
from handlite.metrics import PCK_THRESHOLDS_PX, keypoint_metrics, mean_hand_baseline, plot_pck


def _case(errors_px, visible=None):
    """gt at 0; prediction displaced along x by errors (N, K)."""
    err = np.asarray(errors_px, float)
    gt = np.zeros(err.shape + (2,))
    pred = gt.copy()
    pred[..., 0] = err
    return pred, gt, visible


def test_epe_is_per_keypoint_then_averaged():
    # keypoint 0: errors 1, 2, 9 (mean 4, median 2); keypoint 1: 3, 3, 3 (mean 3, median 3)
    pred, gt, _ = _case([[1, 3], [2, 3], [9, 3]])
    m = keypoint_metrics(pred, gt)
    assert m["epe_mean_px"] == pytest.approx((4 + 3) / 2)
    assert m["epe_median_px"] == pytest.approx((2 + 3) / 2)
    assert m["per_keypoint"]["0"]["epe_median_px"] == pytest.approx(2)


def test_invisible_joints_and_never_visible_keypoints_are_left_out():
    pred, gt, _ = _case([[1, 100, 7], [3, 100, 7]])
    vis = np.array([[1, 0, 0], [1, 0, 0]])
    m = keypoint_metrics(pred, gt, vis)
    assert m["epe_mean_px"] == pytest.approx(2.0)  # only keypoint 0 counts
    assert m["keypoints_evaluated"] == 2
    assert m["per_keypoint"]["1"]["epe_mean_px"] is None


def test_pck_and_auc_by_hand():
    # one keypoint, two hands: errors 0 and 15 px
    pred, gt, _ = _case([[0.0], [15.0]])
    m = keypoint_metrics(pred, gt)
    t = PCK_THRESHOLDS_PX
    expected_curve = np.where(t >= 15, 1.0, 0.5)
    np.testing.assert_allclose(m["pck_curve"]["pck"], expected_curve)
    assert m["pck_5px"] == 0.5 and m["pck_10px"] == 0.5 and m["pck_20px"] == 1.0
    # trapezoid by hand: 0.5 up to 14.2105 (t[9]), a ramp to 1 at 15.789 (t[10]), 1 after
    step = 30 / 19
    area = 0.5 * 9 * step + 0.75 * step + 1.0 * 9 * step
    assert m["auc"] == pytest.approx(area / 30)


def test_perfect_and_hopeless():
    pred, gt, _ = _case([[0.0, 0.0]])
    assert keypoint_metrics(pred, gt)["auc"] == pytest.approx(1.0)
    pred, gt, _ = _case([[50.0, np.nan]])
    m = keypoint_metrics(pred, gt)
    assert m["auc"] == 0.0 and m["pck_20px"] == 0.0
    assert m["per_keypoint"]["1"]["epe_mean_px"] is None  # infinite error is not a number


def test_pckh_uses_head_size():
    pred, gt, _ = _case([[10.0], [10.0]])
    m = keypoint_metrics(pred, gt, head_size=np.array([20.0, 100.0]))
    # normalised errors 0.5 and 0.1
    assert m["pckh_0.2"] == 0.5 and m["pckh_0.5"] == 1.0
    assert 0 < m["pckh_auc"] < 1
    assert "pckh_auc" not in keypoint_metrics(pred, gt)


def test_shape_errors():
    with pytest.raises(UsageError):
        keypoint_metrics(np.zeros((2, 21, 2)), np.zeros((2, 20, 2)))
    with pytest.raises(UsageError):
        keypoint_metrics(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2)))
    with pytest.raises(UsageError):
        keypoint_metrics(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), head_size=[1.0, 2.0])


def test_plot_is_written(tmp_path):
    pred, gt, _ = _case([[1.0, 2.0], [4.0, 8.0]])
    out = tmp_path / "pck.png"
    plot_pck({"a": keypoint_metrics(pred, gt)}, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_hand_baseline_by_hand():
    # one keypoint at x = 0, 10, 20 on three hands (the middle one hidden): the constant is
    # the mean of the visible ones, x = 10, so both visible hands are 10 px off
    gt = np.zeros((3, 1, 2))
    gt[:, 0, 0] = [0.0, 10.0, 20.0]
    vis = np.array([[1], [0], [1]])
    base = mean_hand_baseline(gt, vis)
    assert base["epe_mean_px"] == pytest.approx(10.0)
    assert base["epe_median_px"] == pytest.approx(10.0)
