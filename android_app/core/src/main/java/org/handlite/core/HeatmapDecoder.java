package org.handlite.core;

import java.util.Arrays;

/**
 * Heatmaps to keypoints: the Java twin of {@code handlite.codec.HeatmapCodec.decode} (float
 * maps, {@link #decode}) and {@code decode_quantized} (a quantised model's raw int8/uint8
 * output, {@link #decodeQuantized}), step for step, pinned to them by golden vectors
 * (android_app/core/src/test/resources/golden, written by tests/app/make_golden.py).
 * Not thread-safe (it keeps the last quantisation's tables): one decoder per thread.
 *
 * <p>Shapes: K keypoints (21), H x W heatmap, maps channel-last {@code (H, W, C)} flattened
 * row-major as {@code maps[(y * W + x) * C + c]}, with C = K + 1 (background last, ignored) or
 * C = K. Keypoints come out as (x, y) in input pixels.
 *
 * <p>Coordinate convention (pixel centres): heatmap cell (u, v) -> input pixel
 * ((u + 0.5) * stride - 0.5, (v + 0.5) * stride - 0.5).
 *
 * <p>Steps, as in the package doc of {@code handlite.codec} (the spec):
 * <ol>
 *   <li>spatial softmax of {@code beta * h} per map in float32 ({@code exp(beta * (h -
 *       peak))}, so the peak's term is exactly 1); when any map has a NaN or an infinite
 *       peak, all maps are cleaned first (NaN -> -inf, +-inf -> +-largest float);</li>
 *   <li>argmax (ties: the first index in row-major order); score = 1 / sum, the peak's
 *       probability;</li>
 *   <li>low-confidence fallback: a keypoint with score below {@code minConfidence} is re-placed
 *       at one of the {@code fallbackPeaks} strongest local maxima (3x3, ">=" all in-map
 *       neighbours) of its probability map: the one with the smallest Euclidean distance
 *       (heatmap cells, to the integer argmax cells) to any confident skeleton neighbour, else
 *       to any confident keypoint; no confident keypoint means the argmax stays. Its score is
 *       the probability at that peak;</li>
 *   <li>sub-pixel refinement on the raw map (NaN read as 0): DARK (quadratic fit of log h on the 3x3 window,
 *       clamped inside the map), falling back to a quarter cell towards the higher neighbour
 *       where the fit is not a maximum, needs a value <= 1e-10, or moves more than one cell.</li>
 * </ol>
 *
 * <p>Ties in the fallback, defined as in {@code handlite.codec} ({@code decode.top_local_maxima}
 * and {@code decode.nearest}): candidates are ranked by probability, ties by the lower cell
 * index, and a distance tie goes to the higher-ranked candidate. The golden-vector generator
 * still writes only cases without such ties (and without near-ties that float rounding could
 * flip), so the vectors do not hinge on them.
 */
public final class HeatmapDecoder {

    /** Everything decode depends on besides the maps (the model metadata's "decode" block). */
    public static final class Settings {
        public final float softmaxBeta;
        public final float minConfidence;
        public final int fallbackPeaks;
        public final String refine;

        public Settings(double softmaxBeta, double minConfidence, int fallbackPeaks, String refine) {
            if (!(softmaxBeta > 0) || Double.isInfinite(softmaxBeta)) {
                throw new IllegalArgumentException("softmax beta must be positive, got " + softmaxBeta);
            }
            if (fallbackPeaks < 1) {
                throw new IllegalArgumentException("fallback peaks must be at least 1, got " + fallbackPeaks);
            }
            if (!"dark".equals(refine) && !"quarter".equals(refine) && !"none".equals(refine)) {
                throw new IllegalArgumentException(
                        "unknown refinement '" + refine + "'; choose from dark, quarter, none");
            }
            this.softmaxBeta = (float) softmaxBeta;
            this.minConfidence = (float) minConfidence;
            this.fallbackPeaks = fallbackPeaks;
            this.refine = refine;
        }

        /** handlite's defaults (config.py CodecDefaults). */
        public static Settings defaults() {
            return new Settings(10.0, 0.005, 3, "dark");
        }
    }

    /** Decoded keypoints: {@code xy[2k], xy[2k+1]} in input pixels; {@code scores[k]}. */
    public static final class Result {
        public final float[] xy;
        public final float[] scores;

        Result(float[] xy, float[] scores) {
            this.xy = xy;
            this.scores = scores;
        }

        public int size() {
            return scores.length;
        }

        public float x(int k) {
            return xy[2 * k];
        }

        public float y(int k) {
            return xy[2 * k + 1];
        }
    }

    private static final double EPS = 1e-10;
    /** handlite.codec.spec.MAX_EXP_SPAN: exp(-beta * scale * 255) must stay a normal float. */
    private static final double MAX_EXP_SPAN = 70.0;

    private final int stride;
    private final int numKeypoints;
    private final Settings settings;
    private final boolean[][] adjacency;
    private QuantTables lastTables;

    public HeatmapDecoder(int stride, int numKeypoints, Settings settings) {
        if (stride <= 0) {
            throw new IllegalArgumentException("stride must be positive, got " + stride);
        }
        if (numKeypoints != HandSkeleton.NUM_KEYPOINTS && settings.minConfidence > 0) {
            // the fallback's notion of "nearest" uses the 21-keypoint skeleton
            throw new IllegalArgumentException("the low-confidence fallback needs the 21-keypoint schema");
        }
        this.stride = stride;
        this.numKeypoints = numKeypoints;
        this.settings = settings;
        this.adjacency = HandSkeleton.adjacency();
    }

    public HeatmapDecoder(int stride) {
        this(stride, HandSkeleton.NUM_KEYPOINTS, Settings.defaults());
    }

    public int stride() {
        return stride;
    }

    public Settings settings() {
        return settings;
    }

    /** (H, W, C) float maps, channel-last and row-major -> keypoints and scores. */
    public Result decode(float[] maps, int h, int w, int c) {
        final int k = numKeypoints;
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("empty heatmap " + h + "x" + w);
        }
        if (c != k && c != k + 1) {
            throw new IllegalArgumentException("decode expects " + k + " or " + (k + 1) + " channels, got " + c);
        }
        if (maps.length != h * w * c) {
            throw new IllegalArgumentException(
                    "maps hold " + maps.length + " values, expected " + h + "x" + w + "x" + c);
        }
        final int hw = h * w;
        float[][] flat = new float[k][hw];
        for (int i = 0; i < hw; i++) {
            int base = i * c;
            for (int j = 0; j < k; j++) {
                flat[j][i] = maps[base + j];
            }
        }
        // the Python float decode keeps the maps as they are; only when some map's peak is not
        // finite (numpy's argmax returns the first NaN) are all maps cleaned: NaN -> -inf,
        // +inf -> largest float, -inf -> most negative float
        boolean clean = false;
        for (int j = 0; j < k && !clean; j++) {
            clean = !finitePeak(flat[j]);
        }
        if (clean) {
            for (float[] row : flat) {
                for (int i = 0; i < hw; i++) {
                    float v = row[i];
                    if (Float.isNaN(v)) {
                        row[i] = Float.NEGATIVE_INFINITY;
                    } else if (v == Float.POSITIVE_INFINITY) {
                        row[i] = Float.MAX_VALUE;
                    } else if (v == Float.NEGATIVE_INFINITY) {
                        row[i] = -Float.MAX_VALUE;
                    }
                }
            }
        }

        int[] idx = new int[k];
        float[] scores = new float[k];
        float[] totals = new float[k];
        float[][] expo = new float[k][hw];
        final float beta = settings.softmaxBeta;
        for (int j = 0; j < k; j++) {
            float[] row = flat[j];
            int best = 0;
            for (int i = 1; i < hw; i++) {
                if (row[i] > row[best]) {
                    best = i;
                }
            }
            idx[j] = best;
            float peak = row[best];
            // numpy sums float32 in blocks; a double accumulator lands within an ulp of it
            double sum = 0.0;
            float[] e = expo[j];
            for (int i = 0; i < hw; i++) {
                e[i] = (float) Math.exp(beta * (row[i] - peak));
                sum += e[i];
            }
            totals[j] = (float) sum;
            scores[j] = 1.0f / totals[j];
        }
        int[] iy = new int[k];
        int[] ix = new int[k];
        for (int j = 0; j < k; j++) {
            iy[j] = idx[j] / w;
            ix[j] = idx[j] % w;
        }

        if (settings.minConfidence > 0) {
            fallback(expo, totals, iy, ix, scores, h, w);
        }

        float[] xy = new float[2 * k];
        double[] raw = new double[hw];
        for (int j = 0; j < k; j++) {
            // refinement reads the original maps in double: NaN -> 0, +-inf -> +-largest double
            for (int i = 0; i < hw; i++) {
                float v = maps[i * c + j];
                raw[i] = Float.isNaN(v) ? 0.0 : Float.isInfinite(v)
                        ? (v > 0 ? Double.MAX_VALUE : -Double.MAX_VALUE) : v;
            }
            double[] f = refine(raw, iy[j], ix[j], h, w);
            xy[2 * j] = (float) ((f[1] + 0.5) * stride - 0.5);
            xy[2 * j + 1] = (float) ((f[0] + 0.5) * stride - 0.5);
        }
        return new Result(xy, scores);
    }

    /**
     * (H, W, C) raw int8 or uint8 maps (a quantised model's output tensor, channel-last,
     * row-major; value = (q - zeroPoint) * scale) -> keypoints and scores: the Java twin of
     * {@code HeatmapCodec.decode_quantized}, without a float copy of the maps.
     *
     * <p>Dequantisation is monotonic, so the argmax (first cell on ties) and the local maxima
     * are found on the raw steps; the softmax sum only ever sees 256 distinct values, so a
     * 256-entry table E[q] = exp(beta * scale * (q - q_max)) replaces the exponentials
     * (score = E[q_top] / sum E); refinement dequantises only the 3x3 windows. Maps smaller
     * than 3x3, or a span beta * scale * 255 beyond 70 (where distinct steps could underflow
     * to equal float probabilities), take the float path on the dequantised maps, as
     * handlite.codec.quantized does.
     */
    public Result decodeQuantized(byte[] raw, int h, int w, int c, boolean unsigned, float scale,
                                  int zeroPoint) {
        final int k = numKeypoints;
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("empty heatmap " + h + "x" + w);
        }
        if (c != k && c != k + 1) {
            throw new IllegalArgumentException("decode expects " + k + " or " + (k + 1) + " channels, got " + c);
        }
        if (raw.length != h * w * c) {
            throw new IllegalArgumentException(
                    "maps hold " + raw.length + " values, expected " + h + "x" + w + "x" + c);
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("quantisation scale must be positive, got " + scale);
        }
        final double beta = settings.softmaxBeta;
        double span = beta * scale * 255;
        if (h < 3 || w < 3 || !(span > 0 && span <= MAX_EXP_SPAN)) {
            return decode(dequantize(raw, unsigned, scale, zeroPoint), h, w, c);
        }
        QuantTables t = tables(unsigned, scale, zeroPoint);
        final int hw = h * w;
        int[] bestKey = new int[k];
        int[] bestIdx = new int[k];
        double[] sums = new double[k];
        Arrays.fill(bestKey, Integer.MIN_VALUE);
        for (int i = 0; i < hw; i++) { // one pass over the tensor, every map at once
            int base = i * c;
            for (int j = 0; j < k; j++) {
                byte b = raw[base + j];
                int key = unsigned ? b & 0xff : b;
                if (key > bestKey[j]) {
                    bestKey[j] = key;
                    bestIdx[j] = i;
                }
                sums[j] += t.expo32[b & 0xff];
            }
        }
        float[] scores = new float[k];
        int[] iy = new int[k];
        int[] ix = new int[k];
        boolean[] confident = new boolean[k];
        boolean anyLow = false;
        for (int j = 0; j < k; j++) {
            int top = raw[bestIdx[j] * c + j] & 0xff;
            scores[j] = (float) (1.0 / (sums[j] / t.expo64[top]));
            iy[j] = bestIdx[j] / w;
            ix[j] = bestIdx[j] % w;
            confident[j] = !(settings.minConfidence > 0 && scores[j] < settings.minConfidence);
            anyLow |= !confident[j];
        }
        if (anyLow) {
            int[] refY = iy.clone();
            int[] refX = ix.clone();
            int m = Math.min(settings.fallbackPeaks, hw);
            float[] keys = new float[hw];
            for (int j = 0; j < k; j++) {
                if (confident[j]) {
                    continue;
                }
                // the raw steps rank the probabilities (ties included): peaks on the keys
                for (int i = 0; i < hw; i++) {
                    byte b = raw[i * c + j];
                    keys[i] = unsigned ? b & 0xff : b;
                }
                int pick = nearest(strongestPeaks(keys, h, w, m), references(j, confident), refY, refX, w);
                if (pick >= 0) {
                    iy[j] = pick / w;
                    ix[j] = pick % w;
                    scores[j] = (float) (t.expo64[raw[pick * c + j] & 0xff] / sums[j]);
                }
            }
        }
        float[] xy = new float[2 * k];
        double[] win = new double[9];
        double[] logs = new double[9];
        for (int j = 0; j < k; j++) {
            double[] f;
            if ("none".equals(settings.refine)) {
                f = new double[] {iy[j], ix[j]};
            } else {
                int cy = Math.min(Math.max(iy[j], 1), h - 2);
                int cx = Math.min(Math.max(ix[j], 1), w - 2);
                for (int i = 0; i < 9; i++) {
                    int b = raw[((cy + i / 3 - 1) * w + cx + i % 3 - 1) * c + j] & 0xff;
                    win[i] = t.values[b];
                    logs[i] = t.logs[b];
                }
                f = refineWindow(win, logs, iy[j], ix[j], cy, cx, h, w);
            }
            xy[2 * j] = (float) ((f[1] + 0.5) * stride - 0.5);
            xy[2 * j + 1] = (float) ((f[0] + 0.5) * stride - 0.5);
        }
        return new Result(xy, scores);
    }

    /** Per raw byte (index b & 0xff): its dequantised value, log, and softmax numerator. */
    private static final class QuantTables {
        final boolean unsigned;
        final float scale;
        final int zeroPoint;
        final double[] values = new double[256];
        final double[] logs = new double[256];
        final float[] expo32 = new float[256];
        final double[] expo64 = new double[256];

        QuantTables(boolean unsigned, float scale, int zeroPoint, double beta) {
            this.unsigned = unsigned;
            this.scale = scale;
            this.zeroPoint = zeroPoint;
            int qMax = unsigned ? 255 : 127;
            for (int b = 0; b < 256; b++) {
                int q = unsigned ? b : (byte) b;
                // float32 arithmetic, as the runtime dequantises: the windows are bit-exact
                values[b] = ((float) q - (float) zeroPoint) * scale;
                logs[b] = logOrNaN(values[b]);
                // <= 1, a normal float while beta * scale * 255 <= MAX_EXP_SPAN
                expo64[b] = Math.exp(beta * scale * (q - qMax));
                expo32[b] = (float) expo64[b];
            }
        }
    }

    /** The tables of the last quantisation seen (a model has one output quantisation). */
    private QuantTables tables(boolean unsigned, float scale, int zeroPoint) {
        QuantTables t = lastTables;
        if (t == null || t.unsigned != unsigned || t.scale != scale || t.zeroPoint != zeroPoint) {
            t = new QuantTables(unsigned, scale, zeroPoint, settings.softmaxBeta);
            lastTables = t;
        }
        return t;
    }

    /** Re-pick low-confidence keypoints among their strongest local peaks (see class doc). */
    private void fallback(float[][] expo, float[] totals, int[] iy, int[] ix, float[] scores,
                          int h, int w) {
        final int k = numKeypoints;
        boolean[] confident = new boolean[k];
        for (int j = 0; j < k; j++) {
            confident[j] = !(scores[j] < settings.minConfidence);
        }
        // reference positions are the integer argmax cells of the confident keypoints; they
        // are read before any low-confidence keypoint moves
        int[] refY = iy.clone();
        int[] refX = ix.clone();
        int m = Math.min(settings.fallbackPeaks, h * w);
        for (int j = 0; j < k; j++) {
            if (confident[j]) {
                continue;
            }
            boolean[] ref = references(j, confident);
            float[] prob = new float[h * w];
            for (int i = 0; i < prob.length; i++) {
                prob[i] = expo[j][i] / totals[j];
            }
            int bestCand = nearest(strongestPeaks(prob, h, w, m), ref, refY, refX, w);
            if (bestCand >= 0) {
                iy[j] = bestCand / w;
                ix[j] = bestCand % w;
                scores[j] = prob[bestCand];
            }
        }
    }

    /** The keypoints a low-confidence keypoint j measures against: its confident skeleton
     * neighbours, else every confident keypoint. */
    private boolean[] references(int j, boolean[] confident) {
        final int k = numKeypoints;
        boolean[] ref = new boolean[k];
        boolean anyNeighbour = false;
        for (int o = 0; o < k; o++) {
            ref[o] = adjacency[j][o] && confident[o];
            anyNeighbour |= ref[o];
        }
        if (!anyNeighbour) {
            System.arraycopy(confident, 0, ref, 0, k);
        }
        return ref;
    }

    /** The candidate cell nearest to any reference cell (first on ties), -1 when none. */
    private static int nearest(int[] candidates, boolean[] ref, int[] refY, int[] refX, int w) {
        int bestCand = -1;
        long bestDist = Long.MAX_VALUE;
        for (int cand : candidates) {
            int cy = cand / w;
            int cx = cand % w;
            // squared integer distances (as handlite.codec compares them) order exactly as the
            // Euclidean distances do
            long d = Long.MAX_VALUE;
            for (int o = 0; o < ref.length; o++) {
                if (!ref[o]) {
                    continue;
                }
                long dy = cy - refY[o];
                long dx = cx - refX[o];
                d = Math.min(d, dy * dy + dx * dx);
            }
            if (d < bestDist) {
                bestDist = d;
                bestCand = cand;
            }
        }
        return bestCand;
    }

    /**
     * Up to m cell indices of local maxima (>= every in-map 8-neighbour), strongest first,
     * ties by lower index.
     */
    static int[] strongestPeaks(float[] prob, int h, int w, int m) {
        int[] found = new int[h * w];
        int n = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float v = prob[y * w + x];
                boolean peak = true;
                for (int dy = -1; dy <= 1 && peak; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        if (dy == 0 && dx == 0) {
                            continue;
                        }
                        int ny = y + dy;
                        int nx = x + dx;
                        if (ny < 0 || ny >= h || nx < 0 || nx >= w) {
                            continue; // only in-map neighbours count: outside never wins
                        }
                        if (!(v >= prob[ny * w + nx])) {
                            peak = false;
                            break;
                        }
                    }
                }
                if (peak) {
                    found[n++] = y * w + x;
                }
            }
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = found[i];
        }
        // stable sort by probability, descending: equal values keep their index order
        Arrays.sort(order, (a, b) -> Float.compare(prob[b], prob[a]));
        int[] out = new int[Math.min(m, n)];
        for (int i = 0; i < out.length; i++) {
            out[i] = order[i];
        }
        return out;
    }

    /** Sub-pixel (y, x) in heatmap cells around the integer cell (iy, ix) of one raw map. */
    private double[] refine(double[] map, int iy, int ix, int h, int w) {
        if ("none".equals(settings.refine)) {
            return new double[] {iy, ix};
        }
        if (h < 3 || w < 3) { // no 3x3 window fits: quarter steps only
            double qy = quarterStep(iy > 0, iy < h - 1,
                    at(map, w, Math.max(iy - 1, 0), ix), at(map, w, Math.min(iy + 1, h - 1), ix));
            double qx = quarterStep(ix > 0, ix < w - 1,
                    at(map, w, iy, Math.max(ix - 1, 0)), at(map, w, iy, Math.min(ix + 1, w - 1)));
            return new double[] {iy + qy, ix + qx};
        }
        int cy = Math.min(Math.max(iy, 1), h - 2);
        int cx = Math.min(Math.max(ix, 1), w - 2);
        double[] win = new double[9];
        double[] logs = new double[9];
        for (int i = 0; i < 9; i++) {
            win[i] = at(map, w, cy + i / 3 - 1, cx + i % 3 - 1);
            logs[i] = logOrNaN(win[i]);
        }
        return refineWindow(win, logs, iy, ix, cy, cx, h, w);
    }

    /** log(v) as the refinement takes it: NaN where v <= 1e-10 (the fit then fails). */
    private static double logOrNaN(double v) {
        return v > EPS ? Math.log(v) : Double.NaN;
    }

    /**
     * Refinement (class doc, step 4) from the 3x3 window (row-major values and their logs)
     * around (cy, cx), the cell (iy, ix) clamped inside the map (h, w >= 3): DARK, else a
     * quarter cell towards the higher neighbour (inside the map the argmax's neighbours are
     * in the window). Returns (y, x) in heatmap cells.
     */
    private double[] refineWindow(double[] win, double[] l, int iy, int ix, int cy, int cx, int h, int w) {
        if ("dark".equals(settings.refine)) {
            double dX = 0.5 * (l[5] - l[3]);
            double dY = 0.5 * (l[7] - l[1]);
            double dxx = l[5] - 2 * l[4] + l[3];
            double dyy = l[7] - 2 * l[4] + l[1];
            double dxy = 0.25 * (l[8] - l[6] - l[2] + l[0]);
            double det = dxx * dyy - dxy * dxy;
            // a NaN log fails both tests
            if (det > 1e-12 && dxx < 0) {
                double rx = cx + (dxy * dY - dyy * dX) / det;
                double ry = cy + (dxy * dX - dxx * dY) / det;
                if (Math.abs(ry - iy) <= 1.0 && Math.abs(rx - ix) <= 1.0) {
                    return new double[] {ry, rx};
                }
            }
        }
        int at = (iy - cy + 1) * 3 + (ix - cx + 1);
        double qy = quarterStep(iy > 0, iy < h - 1, win[Math.max(at - 3, 0)], win[Math.min(at + 3, 8)]);
        double qx = quarterStep(ix > 0, ix < w - 1, win[Math.max(at - 1, 0)], win[Math.min(at + 1, 8)]);
        return new double[] {iy + qy, ix + qx};
    }

    private static double at(double[] map, int w, int y, int x) {
        return map[y * w + x];
    }

    /** numpy's argmax would land on a finite value: no NaN, and a finite maximum. */
    private static boolean finitePeak(float[] row) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : row) {
            if (Float.isNaN(v)) {
                return false;
            }
            max = Math.max(max, v);
        }
        return !Float.isInfinite(max);
    }

    /** A quarter cell towards the higher neighbour (0 at the border or on a tie). */
    private static double quarterStep(boolean loOk, boolean hiOk, double lo, double hi) {
        double diff = (loOk && hiOk) ? hi - lo : 0.0;
        // Math.signum keeps NaN as NaN, like numpy's sign
        return 0.25 * Math.signum(diff);
    }

    /** Quantised output -> float maps: (q - zeroPoint) * scale. */
    public static float[] dequantize(byte[] q, boolean unsigned, float scale, int zeroPoint) {
        float[] out = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            int v = unsigned ? (q[i] & 0xff) : q[i];
            out[i] = (v - zeroPoint) * scale;
        }
        return out;
    }
}
