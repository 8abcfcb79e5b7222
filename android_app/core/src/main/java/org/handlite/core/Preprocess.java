package org.handlite.core;

/**
 * Camera frame -> network input: square crop around the hand box (grey padding outside the
 * frame), bilinear resize to N x N, optional horizontal mirror (left hands), normalisation
 * (pixel - mean) / std per channel, and for quantised inputs round(v / scale) + zero point
 * clamped to the dtype (docs/CONTRACTS.md).
 *
 * <p>Shapes and units: images are W x H pixels, 8-bit RGB; the output is (N, N, 3)
 * channel-last, row-major, in the model's channel order (mean and std are in that order too).
 * Coordinates use handlite's
 * pixel-centre convention: pixel i covers [i - 0.5, i + 0.5]. A {@link Box} (cx, cy, side)
 * covers [cx - side/2, cx + side/2] on both axes, and input pixel u samples the image at
 * x = cx - side/2 + (u + 0.5) * side / N. Bilinear taps that fall outside the image read the
 * pad value (what OpenCV's warpAffine does with BORDER_CONSTANT).
 */
public final class Preprocess {

    /** 8-bit RGB pixels, read one at a time. */
    public interface Image {
        int width();

        int height();

        /** 0xRRGGBB of pixel (x, y); alpha, if any, is ignored. */
        int rgb(int x, int y);
    }

    /** Packed ARGB ints, as {@code Bitmap.getPixels} fills them. */
    public static Image argb(final int[] pixels, final int width, final int height) {
        if (pixels.length < width * height) {
            throw new IllegalArgumentException("pixel array smaller than " + width + "x" + height);
        }
        return new Image() {
            public int width() {
                return width;
            }

            public int height() {
                return height;
            }

            public int rgb(int x, int y) {
                return pixels[y * width + x] & 0xffffff;
            }
        };
    }

    /** RGBA bytes with a row stride, as CameraX's RGBA_8888 ImageProxy plane holds them. */
    public static Image rgba(final byte[] data, final int width, final int height, final int rowStride) {
        if (rowStride < 4 * width || data.length < rowStride * (height - 1) + 4 * width) {
            throw new IllegalArgumentException("RGBA buffer too small for " + width + "x" + height
                    + " with row stride " + rowStride);
        }
        return new Image() {
            public int width() {
                return width;
            }

            public int height() {
                return height;
            }

            public int rgb(int x, int y) {
                int i = y * rowStride + 4 * x;
                return ((data[i] & 0xff) << 16) | ((data[i + 1] & 0xff) << 8) | (data[i + 2] & 0xff);
            }
        };
    }

    /** A square region of an image: centre (cx, cy) and side, in image pixels. */
    public static final class Box {
        public final float cx;
        public final float cy;
        public final float side;

        public Box(float cx, float cy, float side) {
            if (!(side > 0) || Float.isInfinite(side) || Float.isNaN(cx) || Float.isNaN(cy)) {
                throw new IllegalArgumentException("box side must be positive and finite, got " + side);
            }
            this.cx = cx;
            this.cy = cy;
            this.side = side;
        }

        /** The whole image when square, else a centred square of the shorter side. */
        public static Box centered(int width, int height) {
            return new Box((width - 1) / 2f, (height - 1) / 2f, Math.min(width, height));
        }

        public float left() {
            return cx - side / 2f;
        }

        public float top() {
            return cy - side / 2f;
        }
    }

    private final int size;
    private final boolean bgr;
    private final float[] mean;
    private final float[] std;
    private final int padValue;
    private final String dtype;
    private final float scale;
    private final int zeroPoint;

    /**
     * @param dtype "float32", "uint8" or "int8"; scale and zeroPoint matter for the latter two
     */
    public Preprocess(int size, boolean bgr, float[] mean, float[] std, int padValue,
                      String dtype, float scale, int zeroPoint) {
        if (size <= 0) {
            throw new IllegalArgumentException("input size must be positive, got " + size);
        }
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 values each");
        }
        if (!"float32".equals(dtype) && !(scale > 0)) {
            throw new IllegalArgumentException("a " + dtype + " input needs a positive scale");
        }
        this.size = size;
        this.bgr = bgr;
        this.mean = mean.clone();
        this.std = std.clone();
        this.padValue = padValue;
        this.dtype = dtype;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** handlite's defaults: RGB, (p - 127.5) / 127.5, pad 128, float32. */
    public static Preprocess defaults(int size) {
        float[] m = {127.5f, 127.5f, 127.5f};
        return new Preprocess(size, false, m, m.clone(), 128, "float32", Float.NaN, 0);
    }

    public int size() {
        return size;
    }

    public boolean quantized() {
        return !"float32".equals(dtype);
    }

    /**
     * Crop, resize and normalise: (N, N, 3) floats. {@code mirror} flips the crop left-right
     * (a left hand becomes a right hand for the network).
     */
    public float[] normalized(Image image, Box box, boolean mirror) {
        float[] out = new float[size * size * 3];
        float[] rgb = new float[3];
        float step = box.side / size;
        for (int v = 0; v < size; v++) {
            float y = box.top() + (v + 0.5f) * step;
            for (int u = 0; u < size; u++) {
                int su = mirror ? size - 1 - u : u;
                float x = box.left() + (su + 0.5f) * step;
                sample(image, x, y, rgb);
                int o = (v * size + u) * 3;
                for (int c = 0; c < 3; c++) {
                    int src = bgr ? 2 - c : c;
                    out[o + c] = (rgb[src] - mean[c]) / std[c];
                }
            }
        }
        return out;
    }

    /** Bilinear RGB at (x, y) in pixel-centre coordinates, pad value outside. */
    void sample(Image image, float x, float y, float[] rgb) {
        int x0 = (int) Math.floor(x);
        int y0 = (int) Math.floor(y);
        float fx = x - x0;
        float fy = y - y0;
        float[] w = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
        int[] xs = {x0, x0 + 1, x0, x0 + 1};
        int[] ys = {y0, y0, y0 + 1, y0 + 1};
        rgb[0] = rgb[1] = rgb[2] = 0f;
        for (int t = 0; t < 4; t++) {
            if (w[t] == 0f) {
                continue; // no read for a tap without weight
            }
            int px = xs[t];
            int py = ys[t];
            if (px < 0 || py < 0 || px >= image.width() || py >= image.height()) {
                rgb[0] += w[t] * padValue;
                rgb[1] += w[t] * padValue;
                rgb[2] += w[t] * padValue;
            } else {
                int p = image.rgb(px, py);
                rgb[0] += w[t] * ((p >> 16) & 0xff);
                rgb[1] += w[t] * ((p >> 8) & 0xff);
                rgb[2] += w[t] * (p & 0xff);
            }
        }
    }

    /** Normalised values -> the quantised input bytes: round(v / scale) + zero point, clamped. */
    public byte[] quantize(float[] normalized) {
        if (!quantized()) {
            throw new IllegalStateException("the model input is float32, not quantised");
        }
        int lo = "uint8".equals(dtype) ? 0 : -128;
        int hi = "uint8".equals(dtype) ? 255 : 127;
        byte[] out = new byte[normalized.length];
        for (int i = 0; i < out.length; i++) {
            // rint rounds half to even, as numpy's round does
            double q = Math.rint(normalized[i] / scale) + zeroPoint;
            int v = (int) Math.max(lo, Math.min(hi, q));
            out[i] = (byte) v;
        }
        return out;
    }

    /**
     * Keypoints in network-input pixels -> image pixels, undoing the mirror:
     * x = left + (u + 0.5) * side / N (same for y). Works in place on (x, y) pairs.
     */
    public void toImage(float[] xy, Box box, boolean mirror) {
        float step = box.side / size;
        for (int i = 0; i + 1 < xy.length; i += 2) {
            float u = mirror ? (size - 1) - xy[i] : xy[i];
            xy[i] = box.left() + (u + 0.5f) * step;
            xy[i + 1] = box.top() + (xy[i + 1] + 0.5f) * step;
        }
    }
}
