package org.handlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** LatencyStats against handlite.bench.stats.latency_stats (golden/index.json "stats"). */
public class GoldenStatsTest {

    @Test
    @SuppressWarnings("unchecked")
    public void latencyStatsMatchPython() throws Exception {
        Map<String, Object> index = Json.parseObject(Resources.text("golden/index.json"));
        List<Object> cases = Json.getArray(index, "stats");
        assertEquals(true, cases.size() >= 3);
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = (String) c.get("name");
            Map<String, Object> expected = Json.getObject(c, "expected");
            Map<String, Object> actual = LatencyStats.of(Json.getDoubles(c, "samples_ms")).toMap();
            assertEquals(name + ": keys", expected.keySet(), actual.keySet());
            for (String key : expected.keySet()) {
                double e = ((Number) expected.get(key)).doubleValue();
                double a = ((Number) actual.get(key)).doubleValue();
                assertEquals(name + " " + key, e, a, 1e-9 * Math.max(1, Math.abs(e)));
            }
        }
    }

    @Test
    public void percentilesInterpolateLinearly() {
        double[] x = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
        LatencyStats s = LatencyStats.of(x);
        assertEquals(9.1, s.p90, 1e-12);
        assertEquals(9.91, s.p99, 1e-12);
        assertEquals(5.5, s.median, 0);
        assertEquals(Math.sqrt(8.25), s.std, 1e-12);
        assertEquals(1000 / 5.5, s.fps(), 1e-9);
    }

    @Test
    public void noSamplesMeansUnknown() {
        assertNull(LatencyStats.of(new double[0]));
        assertNull(LatencyStats.of(null));
    }

    @Test(expected = IllegalArgumentException.class)
    public void negativeTimesAreRefused() {
        LatencyStats.of(new double[] {1, -0.5});
    }

    @Test(expected = IllegalArgumentException.class)
    public void nanTimesAreRefused() {
        LatencyStats.of(new double[] {1, Double.NaN});
    }
}
