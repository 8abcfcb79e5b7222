package org.handlite.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class PreprocessTest {
    private static final float[] MEAN = {127.5f, 127.5f, 127.5f};

    /** A W x H image whose pixel (x, y) has R = 10x + y, G = 100 + y, B = 200. */
    private static Preprocess.Image ramp(int w, int h) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = 0xff000000 | ((10 * x + y) << 16) | ((100 + y) << 8) | 200;
            }
        }
        return Preprocess.argb(px, w, h);
    }

    private static float unnorm(float v) {
        return v * 127.5f + 127.5f;
    }

    @Test
    public void theWholeSquareImageAtItsOwnSizeIsCopiedExactly() {
        Preprocess p = Preprocess.defaults(8);
        float[] out = p.normalized(ramp(8, 8), Preprocess.Box.centered(8, 8), false);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                int o = (y * 8 + x) * 3;
                assertEquals(10 * x + y, unnorm(out[o]), 1e-4);
                assertEquals(100 + y, unnorm(out[o + 1]), 1e-4);
                assertEquals(200, unnorm(out[o + 2]), 1e-4);
            }
        }
    }

    @Test
    public void halvingSamplesBetweenPixels() {
        // 8 -> 4: input pixel u samples x = -0.5 + (u + 0.5) * 2 = 2u + 0.5, the centre of a
        // 2x2 block, so bilinear gives the block's mean
        Preprocess p = Preprocess.defaults(4);
        float[] out = p.normalized(ramp(8, 8), Preprocess.Box.centered(8, 8), false);
        for (int v = 0; v < 4; v++) {
            for (int u = 0; u < 4; u++) {
                int o = (v * 4 + u) * 3;
                assertEquals(10 * (2 * u + 0.5f) + (2 * v + 0.5f), unnorm(out[o]), 1e-4);
                assertEquals(100 + 2 * v + 0.5f, unnorm(out[o + 1]), 1e-4);
            }
        }
    }

    @Test
    public void outsideTheImageIsThePadValue() {
        Preprocess p = Preprocess.defaults(4);
        float[] out = p.normalized(ramp(8, 8), new Preprocess.Box(100f, 100f, 8f), false);
        for (float v : out) {
            assertEquals((128 - 127.5f) / 127.5f, v, 1e-7);
        }
        // a box half outside: the left column of the crop mixes pad and pixels
        float[] edge = p.normalized(ramp(8, 8), new Preprocess.Box(0f, 3.5f, 4f), false);
        // u = 0 samples x = -2 + 0.5 = -1.5 (all pad); u = 1 samples x = -0.5 (half pad)
        assertEquals(128, unnorm(edge[0]), 1e-4);
        float y = 3.5f - 2 + 0.5f; // v = 0 -> y = 2.0
        assertEquals(0.5f * 128 + 0.5f * (10 * 0 + y), unnorm(edge[3]), 1e-4);
    }

    @Test
    public void mirroringFlipsColumnsAndKeypointsComeBack() {
        Preprocess p = Preprocess.defaults(6);
        Preprocess.Box box = new Preprocess.Box(5.2f, 4.1f, 7.3f);
        float[] plain = p.normalized(ramp(12, 9), box, false);
        float[] mirrored = p.normalized(ramp(12, 9), box, true);
        for (int v = 0; v < 6; v++) {
            for (int u = 0; u < 6; u++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(plain[(v * 6 + u) * 3 + c], mirrored[(v * 6 + 5 - u) * 3 + c], 1e-6);
                }
            }
        }
        // input pixel u samples image x = left + (u + 0.5) * side / N; toImage inverts that
        float[] xy = {2f, 3f};
        p.toImage(xy, box, false);
        assertEquals(box.left() + 2.5f * 7.3f / 6, xy[0], 1e-5);
        assertEquals(box.top() + 3.5f * 7.3f / 6, xy[1], 1e-5);
        float[] m = {5f - 2f, 3f}; // the same point seen in the mirrored crop
        p.toImage(m, box, true);
        assertEquals(xy[0], m[0], 1e-5);
        assertEquals(xy[1], m[1], 1e-5);
    }

    @Test
    public void bgrModelsGetSwappedChannels() {
        Preprocess p = new Preprocess(2, true, MEAN, MEAN, 128, "float32", Float.NaN, 0);
        float[] out = p.normalized(ramp(2, 2), Preprocess.Box.centered(2, 2), false);
        assertEquals(200, unnorm(out[0]), 1e-4); // B first
        assertEquals(0, unnorm(out[2]), 1e-4); // R last: pixel (0, 0) has R = 0
    }

    @Test
    public void rgbaRowsWithPaddingReadTheRightPixels() {
        int w = 3;
        int h = 2;
        int stride = 16; // 4 bytes of row padding
        byte[] data = new byte[stride * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * stride + 4 * x;
                data[i] = (byte) (10 * x + y);
                data[i + 1] = (byte) 255;
                data[i + 2] = (byte) 7;
                data[i + 3] = (byte) 255;
            }
        }
        Preprocess.Image img = Preprocess.rgba(data, w, h, stride);
        assertEquals((21 << 16) | (255 << 8) | 7, img.rgb(2, 1));
    }

    @Test
    public void quantisationRoundsHalfToEvenAndClamps() {
        Preprocess u8 = new Preprocess(1, false, MEAN, MEAN, 128, "uint8", 0.5f, 10);
        assertArrayEquals(new byte[] {10, 10, 12, 12, 0, (byte) 255},
                u8.quantize(new float[] {0f, 0.25f, 0.75f, 1.25f, -100f, 1000f})); // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
        Preprocess i8 = new Preprocess(1, false, MEAN, MEAN, 128, "int8", 1f / 128, 0);
        assertArrayEquals(new byte[] {-128, 127, 0, 64},
                i8.quantize(new float[] {-1f, 1f, 0f, 0.5f}));
    }

    @Test(expected = IllegalStateException.class)
    public void floatModelsAreNotQuantised() {
        Preprocess.defaults(2).quantize(new float[] {0f});
    }
}
