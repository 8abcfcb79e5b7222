package org.handlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The Java decoder against the vectors tests/app/make_golden.py wrote with
 * handlite.codec.HeatmapCodec.decode: keypoints to 1e-4 px, scores to 1e-5.
 */
public class GoldenDecoderTest {
    private static final double PX_TOL = 1e-4;
    private static final double SCORE_TOL = 1e-5;

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> cases() throws Exception {
        Map<String, Object> index = Json.parseObject(Resources.text("golden/index.json"));
        assertEquals("handlite.golden/1", index.get("format"));
        return (List<Map<String, Object>>) (List<?>) Json.getArray(index, "cases");
    }

    private static boolean close(double expected, float actual, double tol) {
        if (Double.isNaN(expected)) {
            return Float.isNaN(actual);
        }
        return Math.abs(expected - actual) <= tol;
    }

    private static double num(Object v) {
        return v == null ? Double.NaN : ((Number) v).doubleValue();
    }

    @Test
    public void everyGoldenCaseMatchesThePythonCodec() throws Exception {
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (Map<String, Object> c : cases()) {
            String name = (String) c.get("name");
            double[] shape = Json.getDoubles(c, "shape");
            int h = (int) shape[0];
            int w = (int) shape[1];
            int ch = (int) shape[2];
            Map<String, Object> d = Json.getObject(c, "decode");
            HeatmapDecoder decoder = new HeatmapDecoder(Json.getInt(c, "stride", -1),
                    HandSkeleton.NUM_KEYPOINTS,
                    new HeatmapDecoder.Settings(Json.getDouble(d, "softmax_beta", Double.NaN),
                            Json.getDouble(d, "min_confidence", Double.NaN),
                            Json.getInt(d, "fallback_peaks", -1), Json.getString(d, "refine", null)));
            float[] maps = Resources.floats("golden/" + c.get("file"));
            HeatmapDecoder.Result r = decoder.decode(maps, h, w, ch);
            List<Object> kps = Json.getArray(c, "keypoints");
            List<Object> scores = Json.getArray(c, "scores");
            assertEquals(name, kps.size(), r.size());
            for (int k = 0; k < r.size(); k++) {
                List<?> xy = (List<?>) kps.get(k);
                double ex = num(xy.get(0));
                double ey = num(xy.get(1));
                double es = num(scores.get(k));
                if (!close(ex, r.x(k), PX_TOL) || !close(ey, r.y(k), PX_TOL)) {
                    failures.add(name + " keypoint " + k + ": expected (" + ex + ", " + ey
                            + "), got (" + r.x(k) + ", " + r.y(k) + ")");
                }
                if (!close(es, r.scores[k], SCORE_TOL)) {
                    failures.add(name + " score " + k + ": expected " + es + ", got " + r.scores[k]);
                }
                checked++;
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " mismatches:\n" + String.join("\n", failures));
        }
        assertTrue("golden index holds too few keypoints", checked >= 200);
    }

    /** The vectors must actually exercise the fallback, borders and both map sizes. */
    @Test
    public void goldenCasesCoverTheHardPaths() throws Exception {
        int moved = 0;
        boolean size56 = false;
        boolean size28 = false;
        boolean noBackground = false;
        for (Map<String, Object> c : cases()) {
            moved += Json.getArray(c, "moved_by_fallback").size();
            double[] shape = Json.getDoubles(c, "shape");
            size56 |= shape[0] == 56;
            size28 |= shape[0] == 28;
            noBackground |= shape[2] == HandSkeleton.NUM_KEYPOINTS;
        }
        assertTrue("no golden keypoint was moved by the low-confidence fallback", moved >= 5);
        assertTrue(size56 && size28 && noBackground);
    }

    @Test
    public void quantisedMapsDecodeLikeTheirDequantisedFloats() {
        // a uint8 output (scale 1/255, zero point 0) with one peak per map
        int h = 8;
        int w = 8;
        int c = HandSkeleton.NUM_KEYPOINTS + 1;
        byte[] q = new byte[h * w * c];
        for (int k = 0; k < HandSkeleton.NUM_KEYPOINTS; k++) {
            int y = k % h;
            int x = (3 * k) % w;
            q[(y * w + x) * c + k] = (byte) 255;
        }
        float[] maps = HeatmapDecoder.dequantize(q, true, 1f / 255f, 0);
        assertEquals(1f, maps[(1 * w + 3) * c + 1], 1e-6f); // keypoint 1 peaks at (3, 1)
        HeatmapDecoder.Result r = new HeatmapDecoder(4).decode(maps, h, w, c);
        for (int k = 0; k < HandSkeleton.NUM_KEYPOINTS; k++) {
            // a lone peak: DARK cannot fit (zeros around), the quarter step sees equal
            // neighbours, so the keypoint sits on the cell centre
            assertEquals((3 * k) % w * 4 + 1.5f, r.x(k), 1e-6f);
            assertEquals(k % h * 4 + 1.5f, r.y(k), 1e-6f);
        }
        byte[] signed = {(byte) -128, 0, 127};
        float[] s = HeatmapDecoder.dequantize(signed, false, 0.5f, -128);
        assertEquals(0f, s[0], 0f);
        assertEquals(64f, s[1], 0f);
        assertEquals(127.5f, s[2], 0f);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> quantizedCases() throws Exception {
        Map<String, Object> index = Json.parseObject(Resources.text("golden/index.json"));
        return (List<Map<String, Object>>) (List<?>) Json.getArray(index, "quantized_cases");
    }

    /** Raw int8/uint8 maps against HeatmapCodec.decode_quantized: 1e-4 px, 1e-5 in scores. */
    @Test
    public void everyQuantisedGoldenCaseMatchesDecodeQuantized() throws Exception {
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (Map<String, Object> c : quantizedCases()) {
            String name = (String) c.get("name");
            double[] shape = Json.getDoubles(c, "shape");
            Map<String, Object> d = Json.getObject(c, "decode");
            HeatmapDecoder decoder = new HeatmapDecoder(Json.getInt(c, "stride", -1),
                    HandSkeleton.NUM_KEYPOINTS,
                    new HeatmapDecoder.Settings(Json.getDouble(d, "softmax_beta", Double.NaN),
                            Json.getDouble(d, "min_confidence", Double.NaN),
                            Json.getInt(d, "fallback_peaks", -1), Json.getString(d, "refine", null)));
            boolean unsigned = "uint8".equals(Json.getString(c, "dtype", null));
            HeatmapDecoder.Result r = decoder.decodeQuantized(Resources.bytes("golden/" + c.get("file")),
                    (int) shape[0], (int) shape[1], (int) shape[2], unsigned,
                    (float) Json.getDouble(c, "scale", Double.NaN), Json.getInt(c, "zero_point", 0));
            List<Object> kps = Json.getArray(c, "keypoints");
            List<Object> scores = Json.getArray(c, "scores");
            assertEquals(name, kps.size(), r.size());
            for (int k = 0; k < r.size(); k++) {
                List<?> xy = (List<?>) kps.get(k);
                double ex = num(xy.get(0));
                double ey = num(xy.get(1));
                double es = num(scores.get(k));
                if (!close(ex, r.x(k), PX_TOL) || !close(ey, r.y(k), PX_TOL)) {
                    failures.add(name + " keypoint " + k + ": expected (" + ex + ", " + ey
                            + "), got (" + r.x(k) + ", " + r.y(k) + ")");
                }
                if (!close(es, r.scores[k], SCORE_TOL)) {
                    failures.add(name + " score " + k + ": expected " + es + ", got " + r.scores[k]);
                }
                checked++;
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " mismatches:\n" + String.join("\n", failures));
        }
        assertTrue("golden index holds too few quantised keypoints", checked >= 200);
    }

    /** The quantised vectors must exercise the fallback, both dtypes and the float path. */
    @Test
    public void quantisedGoldenCasesCoverTheHardPaths() throws Exception {
        int moved = 0;
        boolean int8 = false;
        boolean uint8 = false;
        boolean floatPath = false;
        for (Map<String, Object> c : quantizedCases()) {
            moved += Json.getArray(c, "moved_by_fallback").size();
            int8 |= "int8".equals(c.get("dtype"));
            uint8 |= "uint8".equals(c.get("dtype"));
            floatPath |= ((String) c.get("name")).endsWith("_float_path");
        }
        assertTrue("no quantised keypoint was moved by the fallback", moved >= 5);
        assertTrue(int8 && uint8 && floatPath);
    }

    @Test(expected = IllegalArgumentException.class)
    public void nonPositiveQuantisationScaleIsRefused() {
        new HeatmapDecoder(4).decodeQuantized(new byte[4 * 4 * 22], 4, 4, 22, false, 0f, 0);
    }

    @Test(expected = IllegalArgumentException.class)
    public void wrongChannelCountIsRefused() {
        new HeatmapDecoder(4).decode(new float[4 * 4 * 5], 4, 4, 5);
    }

    @Test(expected = IllegalArgumentException.class)
    public void unknownRefinementIsRefused() {
        new HeatmapDecoder.Settings(10, 0.05, 3, "taylor");
    }
}
