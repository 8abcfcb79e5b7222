package org.handlite.core;

/**
 * Frames per second over a sliding window of the last N frame times, for the live view.
 *
 * <p>Units: timestamps in nanoseconds (System.nanoTime or a camera timestamp), fps in frames
 * per second. fps = (frames in window - 1) / (newest - oldest): frame-to-frame intervals, so
 * the number reflects what the user sees, camera stalls included, not just inference.
 */
public final class FpsMeter {
    private final long[] times;
    private int next;
    private int filled;

    public FpsMeter(int window) {
        if (window < 2) {
            throw new IllegalArgumentException("an fps window needs at least 2 frames, got " + window);
        }
        times = new long[window];
    }

    public FpsMeter() {
        this(30);
    }

    /** Record one frame at {@code nanos}; returns the fps so far (NaN until two frames). */
    public synchronized double tick(long nanos) {
        if (filled > 0) {
            long last = times[(next + times.length - 1) % times.length];
            if (nanos < last) {
                // a clock that went backwards (camera restart) starts a new window
                reset();
            }
        }
        times[next] = nanos;
        next = (next + 1) % times.length;
        filled = Math.min(filled + 1, times.length);
        return fps();
    }

    public synchronized double fps() {
        if (filled < 2) {
            return Double.NaN;
        }
        long newest = times[(next + times.length - 1) % times.length];
        long oldest = times[(next + times.length - filled) % times.length];
        long span = newest - oldest;
        return span > 0 ? (filled - 1) * 1e9 / span : Double.NaN;
    }

    public synchronized void reset() {
        next = 0;
        filled = 0;
    }
}
