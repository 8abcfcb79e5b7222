package org.handlite.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;
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

    /** Crops of a test image must equal the host runtime's (square_crop + extract_crop). */
    @Test
    @SuppressWarnings("unchecked")
    public void cropsMatchTheHostRuntime() throws Exception {
        Map<String, Object> pre = Json.getObject(
                Json.parseObject(Resources.text("golden/index.json")), "preprocess");
        int w = Json.getInt(pre, "width", -1);
        int h = Json.getInt(pre, "height", -1);
        byte[] rgb = Resources.bytes("golden/" + pre.get("image"));
        int[] argb = new int[w * h];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = ((rgb[3 * i] & 0xff) << 16) | ((rgb[3 * i + 1] & 0xff) << 8) | (rgb[3 * i + 2] & 0xff);
        }
        Preprocess.Image image = Preprocess.argb(argb, w, h);
        List<Object> cases = Json.getArray(pre, "cases");
        assertTrue(cases.size() >= 5);
        int pixels = 0;
        int differing = 0;
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = (String) c.get("name");
            double[] box = Json.getDoubles(c, "box");
            Preprocess.Box b = box == null ? Preprocess.Box.wholeImage(w, h)
                    : Preprocess.Box.around((float) box[0], (float) box[1], (float) box[2],
                            (float) box[3], (float) Json.getDouble(c, "scale", 1));
            Map<String, Object> crop = Json.getObject(c, "crop");
            assertEquals(name + " x0", Json.getInt(crop, "x0", 0), b.x0);
            assertEquals(name + " y0", Json.getInt(crop, "y0", 0), b.y0);
            assertEquals(name + " side", Json.getInt(crop, "side", 0), b.side);
            int size = Json.getInt(c, "size", -1);
            Preprocess p = new Preprocess(size, false, MEAN, MEAN, Json.getInt(pre, "pad_value", 128),
                    "float32", Float.NaN, 0);
            int[] got = p.crop(image, b, (Boolean) c.get("left"));
            byte[] want = Resources.bytes("golden/" + c.get("file"));
            assertEquals(name, want.length, got.length);
            for (int i = 0; i < got.length; i++) {
                if (got[i] != (want[i] & 0xff)) {
                    differing++;
                }
                pixels++;
            }
        }
        assertEquals(differing + " of " + pixels + " values differ from the host runtime's", 0, differing);
    }

    @Test
    public void theWholeSquareImageAtItsOwnSizeIsCopiedExactly() {
        Preprocess p = Preprocess.defaults(8);
        float[] out = p.normalized(ramp(8, 8), Preprocess.Box.wholeImage(8, 8), false);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                int o = (y * 8 + x) * 3;
                assertEquals((10 * x + y - 128f) / 127.5f, out[o], 1e-7);
                assertEquals((100 + y - 128f) / 127.5f, out[o + 1], 1e-7);
                assertEquals((200 - 128f) / 127.5f, out[o + 2], 1e-7);
            }
        }
    }

    @Test
    public void outsideTheImageIsThePadValue() {
        Preprocess p = Preprocess.defaults(4);
        int[] out = p.crop(ramp(8, 8), new Preprocess.Box(100, 100, 8), false);
        for (int v : out) {
            assertEquals(128, v);
        }
    }

    @Test
    public void mirroringFlipsColumnsAndKeypointsComeBack() {
        Preprocess p = Preprocess.defaults(6);
        Preprocess.Box box = new Preprocess.Box(1, 0, 7);
        int[] plain = p.crop(ramp(12, 9), box, false);
        int[] mirrored = p.crop(ramp(12, 9), box, true);
        for (int v = 0; v < 6; v++) {
            for (int u = 0; u < 6; u++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(plain[(v * 6 + u) * 3 + c], mirrored[(v * 6 + 5 - u) * 3 + c]);
                }
            }
        }
        // the runtime's Crop.to_image: x = x0 - 0.5 + (u + 0.5) * side / N
        float[] xy = {2f, 3f};
        p.toImage(xy, box, false);
        assertEquals(1 - 0.5f + 2.5f * 7f / 6, xy[0], 1e-5);
        assertEquals(-0.5f + 3.5f * 7f / 6, xy[1], 1e-5);
        float[] m = {5f - 2f, 3f}; // the same point seen in the mirrored crop
        p.toImage(m, box, true);
        assertEquals(xy[0], m[0], 1e-5);
        assertEquals(xy[1], m[1], 1e-5);
        // a crop pixel centre lands on the centre of the image pixel it came from
        Preprocess same = Preprocess.defaults(7);
        float[] centre = {4f, 0f};
        same.toImage(centre, box, false);
        assertEquals(5f, centre[0], 1e-6);
        assertEquals(0f, centre[1], 1e-6);
    }

    @Test
    public void bgrModelsGetSwappedChannels() {
        Preprocess p = new Preprocess(2, true, MEAN, MEAN, 128, "float32", Float.NaN, 0);
        float[] out = p.normalized(ramp(2, 2), Preprocess.Box.wholeImage(2, 2), false);
        assertEquals((200 - 127.5f) / 127.5f, out[0], 1e-7); // B first
        assertEquals(-1f, out[2], 1e-7); // R last: pixel (0, 0) has R = 0
    }

    @Test
    public void boxesSnapLikeTheRuntime() {
        Preprocess.Box b = Preprocess.Box.around(10.2f, 20f, 30f, 10f, 1.25f); // side 37.5 -> 38
        assertEquals(38, b.side);
        assertEquals((int) Math.floor(10.2 + 15 - 19 + 0.5), b.x0);
        assertEquals(6, b.y0); // 25 - 19 = 6
        Preprocess.Box whole = Preprocess.Box.wholeImage(640, 480);
        assertEquals(640, whole.side);
        assertEquals(0, whole.x0);
        assertEquals(-80, whole.y0);
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
    public void rotatedFramesTurnClockwise() {
        // a 3 x 2 frame: R encodes the column, G the row
        Preprocess.Image src = ramp(3, 2);
        Preprocess.Image r90 = Preprocess.rotated(src, 90);
        assertEquals(2, r90.width());
        assertEquals(3, r90.height());
        // turning clockwise puts the bottom-left pixel (0, 1) at the top-left
        assertEquals(src.rgb(0, 1), r90.rgb(0, 0));
        assertEquals(src.rgb(0, 0), r90.rgb(1, 0));
        assertEquals(src.rgb(2, 1), r90.rgb(0, 2));
        Preprocess.Image r180 = Preprocess.rotated(src, 180);
        assertEquals(src.rgb(2, 1), r180.rgb(0, 0));
        Preprocess.Image r270 = Preprocess.rotated(src, -90);
        assertEquals(src.rgb(2, 0), r270.rgb(0, 0));
        assertEquals(src.rgb(0, 1), r270.rgb(1, 2));
        // four quarter turns are the identity
        Preprocess.Image full = Preprocess.rotated(Preprocess.rotated(r90, 90), 180);
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                assertEquals(src.rgb(x, y), full.rgb(x, y));
            }
        }
    }

    @Test
    public void quantisationRoundsHalfAwayFromZeroAndClamps() {
        Preprocess u8 = new Preprocess(1, false, MEAN, MEAN, 128, "uint8", 0.5f, 10);
        // 0.25 / 0.5 = 0.5 -> 1; 0.75 -> 1.5 -> 2; -0.25 -> -0.5 -> -1
        assertArrayEquals(new byte[] {10, 11, 12, 9, 0, (byte) 255},
                u8.quantize(new float[] {0f, 0.25f, 0.75f, -0.25f, -100f, 1000f}));
        Preprocess i8 = new Preprocess(1, false, MEAN, MEAN, 128, "int8", 1f / 128, 0);
        assertArrayEquals(new byte[] {-128, 127, 0, 64},
                i8.quantize(new float[] {-1f, 1f, 0f, 0.5f}));
    }

    @Test(expected = IllegalStateException.class)
    public void floatModelsAreNotQuantised() {
        Preprocess.defaults(2).quantize(new float[] {0f});
    }
}
