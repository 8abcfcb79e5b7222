package org.handlite.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Latency statistics of raw samples in milliseconds: the Java twin of
 * {@code handlite.bench.stats.latency_stats}, with the same definitions so phone and host
 * numbers compare:
 * <ul>
 *   <li>percentiles interpolate linearly between closest ranks (numpy's default): the p90 of
 *       1..10 is 9.1; the median is the mean of the two middle values for even counts;</li>
 *   <li>std is the population standard deviation (ddof = 0);</li>
 *   <li>mad is the raw median absolute deviation median(|x - median|), not scaled;</li>
 *   <li>a sample is an outlier when |x - median| > 5 * mad; with mad = 0 nothing is.</li>
 * </ul>
 */
public final class LatencyStats {
    /** |x - median| > OUTLIER_MADS * MAD marks a sample as an outlier. */
    public static final double OUTLIER_MADS = 5.0;

    public final int count;
    public final double mean;
    public final double median;
    public final double p90;
    public final double p99;
    public final double std;
    public final double min;
    public final double max;
    public final double mad;
    public final int outliers;

    private LatencyStats(double[] samples) {
        double[] x = samples.clone();
        Arrays.sort(x);
        count = x.length;
        double sum = 0;
        for (double v : x) {
            sum += v;
        }
        mean = sum / count;
        double sq = 0;
        for (double v : x) {
            sq += (v - mean) * (v - mean);
        }
        std = Math.sqrt(sq / count);
        median = medianSorted(x);
        p90 = percentileSorted(x, 90);
        p99 = percentileSorted(x, 99);
        min = x[0];
        max = x[count - 1];
        double[] dev = new double[count];
        for (int i = 0; i < count; i++) {
            dev[i] = Math.abs(x[i] - median);
        }
        Arrays.sort(dev);
        mad = medianSorted(dev);
        int out = 0;
        if (mad > 0) {
            for (double d : dev) {
                if (d > OUTLIER_MADS * mad) {
                    out++;
                }
            }
        }
        outliers = out;
    }

    /**
     * Statistics of samples (ms); null when there are none. NaN, infinite or negative times
     * are refused: a timing that cannot be real must not quietly shift a median.
     */
    public static LatencyStats of(double[] samplesMs) {
        if (samplesMs == null || samplesMs.length == 0) {
            return null;
        }
        for (double v : samplesMs) {
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("latency samples contain NaN or infinity");
            }
            if (v < 0) {
                throw new IllegalArgumentException("latency samples contain a negative time (" + v + " ms)");
            }
        }
        return new LatencyStats(samplesMs);
    }

    /** numpy's median: the middle value, or the mean of the two middle values. */
    static double medianSorted(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }

    /** The q-th percentile (0..100) of ascending values, linear between closest ranks. */
    static double percentileSorted(double[] sorted, double q) {
        double pos = (sorted.length - 1) * q / 100.0;
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double t = pos - lo;
        double a = sorted[lo];
        double b = sorted[hi];
        // numpy's lerp: measured from the nearer end, so t = 1 returns b exactly
        return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
    }

    /** Frames per second at the median latency; NaN when the median is not positive. */
    public double fps() {
        return median > 0 ? 1000.0 / median : Double.NaN;
    }

    /** One latency block of the {@code handlite.bench/1} record (keys in contract order). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", count);
        m.put("mean_ms", mean);
        m.put("median_ms", median);
        m.put("p90_ms", p90);
        m.put("p99_ms", p99);
        m.put("std_ms", std);
        m.put("min_ms", min);
        m.put("max_ms", max);
        m.put("mad_ms", mad);
        m.put("outliers", outliers);
        return m;
    }
}
