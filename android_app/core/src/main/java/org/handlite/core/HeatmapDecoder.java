package org.handlite.core;

import java.util.Arrays;

/**
 * Heatmaps to keypoints: the Java twin of {@code handlite.codec.HeatmapCodec.decode}, step for
 * step, pinned to it by golden vectors (android_app/core/src/test/resources/golden).
 *
 * <p>Shapes: K keypoints (21), H x W heatmap, maps channel-last {@code (H, W, C)} flattened
 * row-major as {@code maps[(y * W + x) * C + c]}, with C = K + 1 (background last, ignored) or
 * C = K. Keypoints come out as (x, y) in input pixels.
 *
 * <p>Coordinate convention (pixel centres): heatmap cell (u, v) -> input pixel
 * ((u + 0.5) * stride - 0.5, (v + 0.5) * stride - 0.5).
 *
 * <p>Steps, as in codec.py:
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
 * <p>One deliberate definition where numpy leaves it open: codec.py takes the top peaks with
 * {@code argpartition}, whose order among equal probabilities is unspecified. Here candidates
 * are ranked by probability, ties by the lower cell index, and a distance tie goes to the
 * higher-ranked candidate. The two agree whenever the strongest peaks and their distances are
 * distinct, which the golden-vector generator checks for every case it writes.
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

    private final int stride;
    private final int numKeypoints;
    private final Settings settings;
    private final boolean[][] adjacency;

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
        // codec.py's fast path keeps the maps as they are; only when some map's peak is not
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
            boolean[] ref = new boolean[k];
            boolean anyNeighbour = false;
            for (int o = 0; o < k; o++) {
                ref[o] = adjacency[j][o] && confident[o];
                anyNeighbour |= ref[o];
            }
            if (!anyNeighbour) {
                System.arraycopy(confident, 0, ref, 0, k);
            }
            float[] prob = new float[h * w];
            for (int i = 0; i < prob.length; i++) {
                prob[i] = expo[j][i] / totals[j];
            }
            int[] top = strongestPeaks(prob, h, w, m);
            int bestCand = -1;
            long bestDist = Long.MAX_VALUE;
            for (int cand : top) {
                int cy = cand / w;
                int cx = cand % w;
                // squared integer distances order exactly as codec.py's float32 norms do for
                // any map up to thousands of cells a side
                long d = Long.MAX_VALUE;
                for (int o = 0; o < k; o++) {
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
            if (bestCand >= 0) {
                iy[j] = bestCand / w;
                ix[j] = bestCand % w;
                scores[j] = prob[bestCand];
            }
        }
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
                            continue; // codec.py pads with -inf: outside never wins
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
        double fy = iy;
        double fx = ix;
        String method = settings.refine;
        if ("none".equals(method)) {
            return new double[] {fy, fx};
        }
        double qy = quarterStep(iy > 0, iy < h - 1,
                at(map, w, Math.max(iy - 1, 0), ix), at(map, w, Math.min(iy + 1, h - 1), ix));
        double qx = quarterStep(ix > 0, ix < w - 1,
                at(map, w, iy, Math.max(ix - 1, 0)), at(map, w, iy, Math.min(ix + 1, w - 1)));
        if ("quarter".equals(method) || h < 3 || w < 3) {
            return new double[] {fy + qy, fx + qx};
        }
        // DARK: quadratic fit to log(h) on a 3x3 window, clamped inside the map
        int cy = Math.min(Math.max(iy, 1), h - 2);
        int cx = Math.min(Math.max(ix, 1), w - 2);
        double[][] l = new double[3][3];
        boolean positive = true;
        for (int dy = -1; dy <= 1; dy++) {
            for (int dx = -1; dx <= 1; dx++) {
                double v = at(map, w, cy + dy, cx + dx);
                positive &= v > EPS;
                l[dy + 1][dx + 1] = Math.log(Math.max(v, EPS));
            }
        }
        double dX = 0.5 * (l[1][2] - l[1][0]);
        double dY = 0.5 * (l[2][1] - l[0][1]);
        double dxx = l[1][2] - 2 * l[1][1] + l[1][0];
        double dyy = l[2][1] - 2 * l[1][1] + l[0][1];
        double dxy = 0.25 * (l[2][2] - l[2][0] - l[0][2] + l[0][0]);
        double det = dxx * dyy - dxy * dxy;
        boolean ok = positive && det > 1e-12 && dxx < 0;
        if (ok) {
            double offX = -(dyy * dX - dxy * dY) / det;
            double offY = -(dxx * dY - dxy * dX) / det;
            double ry = cy + offY;
            double rx = cx + offX;
            if (Math.abs(ry - iy) <= 1.0 && Math.abs(rx - ix) <= 1.0) {
                return new double[] {ry, rx};
            }
        }
        return new double[] {fy + qy, fx + qx};
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
