package org.handlite.core;

/**
 * Camera frame -> network input, the same maths as the host runtime ({@code
 * handlite.runtime}: {@code square_crop}, {@code extract_crop}, {@code input_lut}):
 * <ol>
 *   <li>a square crop of whole pixels around the hand box (columns x0 .. x0 + side - 1), the
 *       part outside the frame filled with the pad value;</li>
 *   <li>bilinear resize of that window to N x N exactly as OpenCV's {@code cv2.resize}
 *       INTER_LINEAR does it for 8-bit images: output pixel u samples window coordinate
 *       (u + 0.5) * side / N - 0.5, with OpenCV's edge handling and 11-bit fixed-point
 *       arithmetic, so the app's input tensor equals the host's bit for bit (checked against
 *       crops the host runtime made: golden/pre_*.u8);</li>
 *   <li>optional left-right mirror (left hands), channel order swap for BGR models;</li>
 *   <li>(pixel - mean) / std per channel in float32 and, for quantised inputs, round(v /
 *       scale) + zero point, half away from zero as TFLite's QUANTIZE, clamped to the type
 *       (docs/CONTRACTS.md).</li>
 * </ol>
 *
 * <p>Shapes and units: images are W x H pixels, 8-bit RGB; the output is (N, N, 3)
 * channel-last, row-major, in the model's channel order (mean and std are in that order too).
 * Coordinates use handlite's pixel-centre convention: pixel i covers [i - 0.5, i + 0.5].
 * Input pixel u maps back to image x = x0 - 0.5 + (u + 0.5) * side / N.
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

    /**
     * The upright view of a camera frame that the sensor delivered rotated: {@code degrees}
     * (0, 90, 180, 270) is how far the frame must turn clockwise to be upright, as CameraX's
     * {@code ImageInfo.getRotationDegrees()} reports. No pixels are copied.
     */
    public static Image rotated(final Image src, int degrees) {
        final int d = ((degrees % 360) + 360) % 360;
        if (d % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
        }
        if (d == 0) {
            return src;
        }
        final int sw = src.width();
        final int sh = src.height();
        final boolean swap = d == 90 || d == 270;
        return new Image() {
            public int width() {
                return swap ? sh : sw;
            }

            public int height() {
                return swap ? sw : sh;
            }

            public int rgb(int x, int y) {
                switch (d) {
                    case 90:
                        return src.rgb(y, sh - 1 - x);
                    case 180:
                        return src.rgb(sw - 1 - x, sh - 1 - y);
                    default: // 270
                        return src.rgb(sw - 1 - y, x);
                }
            }
        };
    }

    /** A square window of an image: columns x0 .. x0 + side - 1, rows y0 .. y0 + side - 1. */
    public static final class Box {
        public final int x0;
        public final int y0;
        public final int side;

        public Box(int x0, int y0, int side) {
            if (side <= 0) {
                throw new IllegalArgumentException("crop side must be positive, got " + side);
            }
            this.x0 = x0;
            this.y0 = y0;
            this.side = side;
        }

        /**
         * The runtime's {@code square_crop}: a box (x, y, w, h) in image pixels (first
         * column/row and extent) becomes the square of side max(w, h) * scale around its
         * centre, snapped to whole pixels (half up).
         */
        public static Box around(float x, float y, float w, float h, float scale) {
            if (!(w > 0) || !(h > 0) || !(scale > 0) || Float.isInfinite(w) || Float.isInfinite(h)
                    || Float.isNaN(x) || Float.isNaN(y) || Float.isInfinite(x) || Float.isInfinite(y)) {
                throw new IllegalArgumentException("box needs finite values and a positive size, got "
                        + x + "," + y + "," + w + "," + h + " x" + scale);
            }
            return snapped(x + w / 2.0, y + h / 2.0, Math.max(w, h) * (double) scale);
        }

        /** The whole image's square (side max(W, H), centred; a landscape frame gets padding). */
        public static Box wholeImage(int width, int height) {
            return snapped(width / 2.0, height / 2.0, Math.max(width, height));
        }

        /** Centre in edge coordinates ([0, W] spans the image) and side, snapped half up. */
        private static Box snapped(double cx, double cy, double side) {
            int s = Math.max(1, (int) Math.floor(side + 0.5));
            return new Box((int) Math.floor(cx - s / 2.0 + 0.5), (int) Math.floor(cy - s / 2.0 + 0.5), s);
        }

        @Override
        public String toString() {
            return "Box(x0=" + x0 + ", y0=" + y0 + ", side=" + side + ")";
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

    /** handlite's defaults: RGB, (p - 128) / 127.5, pad 128, float32. */
    public static Preprocess defaults(int size) {
        float[] m = {128f, 128f, 128f};
        float[] s = {127.5f, 127.5f, 127.5f};
        return new Preprocess(size, false, m, s, 128, "float32", Float.NaN, 0);
    }

    public int size() {
        return size;
    }

    public boolean quantized() {
        return !"float32".equals(dtype);
    }

    /**
     * Crop, resize and mirror: (N, N, 3) whole grey levels 0..255 in RGB order (before the
     * channel swap and normalisation). {@code mirror} flips the crop left-right (a left hand
     * becomes a right hand for the network).
     */
    public int[] crop(Image image, Box box, boolean mirror) {
        Taps xs = taps(box.side, true);
        Taps ys = taps(box.side, false);
        int w = image.width();
        int h = image.height();
        int[] out = new int[size * size * 3];
        for (int v = 0; v < size; v++) {
            int ra = box.y0 + ys.first[v];
            int rb = box.y0 + ys.second[v];
            int b0 = ys.w0[v];
            int b1 = ys.w1[v];
            for (int u = 0; u < size; u++) {
                int ca = box.x0 + xs.first[u];
                int cb = box.x0 + xs.second[u];
                int a0 = xs.w0[u];
                int a1 = xs.w1[u];
                int p00 = pixel(image, w, h, ca, ra);
                int p01 = pixel(image, w, h, cb, ra);
                int p10 = pixel(image, w, h, ca, rb);
                int p11 = pixel(image, w, h, cb, rb);
                int o = (v * size + (mirror ? size - 1 - u : u)) * 3;
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c;
                    // OpenCV's fixed point: rows weighted in 11 bits, then the vertical pass
                    // on values shifted right by 4 with 16-bit high products, rounded at the end
                    int s0 = ((p00 >> shift) & 0xff) * a0 + ((p01 >> shift) & 0xff) * a1;
                    int s1 = ((p10 >> shift) & 0xff) * a0 + ((p11 >> shift) & 0xff) * a1;
                    int value = ((((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16) + 2) >> 2;
                    out[o + c] = Math.max(0, Math.min(255, value));
                }
            }
        }
        return out;
    }

    /** Per output pixel along one axis: the two window taps and their 11-bit weights. */
    private static final class Taps {
        final int[] first;
        final int[] second;
        final int[] w0;
        final int[] w1;

        Taps(int n) {
            first = new int[n];
            second = new int[n];
            w0 = new int[n];
            w1 = new int[n];
        }
    }

    /**
     * OpenCV INTER_LINEAR geometry: output pixel u samples (u + 0.5) * side / N - 0.5 (in
     * float). Columns past the window's edge are clamped to the edge pixel with its full
     * weight; rows keep their weights and read the clamped row twice (as OpenCV does).
     */
    private Taps taps(int side, boolean horizontal) {
        Taps t = new Taps(size);
        double scale = (double) side / size;
        for (int u = 0; u < size; u++) {
            float s = (float) ((u + 0.5) * scale - 0.5);
            int i = (int) Math.floor(s);
            float f = s - i;
            if (horizontal) {
                if (i < 0) {
                    i = 0;
                    f = 0f;
                }
                if (i >= side - 1) {
                    i = side - 1;
                    f = 0f;
                }
            }
            t.first[u] = Math.min(Math.max(i, 0), side - 1);
            t.second[u] = Math.min(Math.max(i + 1, 0), side - 1);
            t.w0[u] = (int) Math.rint((1f - f) * 2048f);
            t.w1[u] = (int) Math.rint(f * 2048f);
        }
        return t;
    }

    /** Crop, resize, mirror and normalise: (N, N, 3) floats in the model's channel order. */
    public float[] normalized(Image image, Box box, boolean mirror) {
        int[] rgb = crop(image, box, mirror);
        float[] out = new float[rgb.length];
        for (int i = 0; i < rgb.length; i += 3) {
            for (int c = 0; c < 3; c++) {
                int src = bgr ? 2 - c : c;
                out[i + c] = (rgb[i + src] - mean[c]) / std[c];
            }
        }
        return out;
    }

    private int pixel(Image image, int w, int h, int x, int y) {
        if (x < 0 || y < 0 || x >= w || y >= h) {
            return (padValue << 16) | (padValue << 8) | padValue;
        }
        return image.rgb(x, y);
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
            // half away from zero in float32, as TFLite's QUANTIZE and the host runtime do
            float x = normalized[i] / scale;
            double q = Math.signum(x) * Math.floor(Math.abs(x) + 0.5f) + zeroPoint;
            int v = (int) Math.max(lo, Math.min(hi, q));
            out[i] = (byte) v;
        }
        return out;
    }

    /**
     * Keypoints in network-input pixels -> image pixels, undoing the mirror:
     * x = x0 - 0.5 + (u + 0.5) * side / N (same for y). Works in place on (x, y) pairs.
     */
    public void toImage(float[] xy, Box box, boolean mirror) {
        double step = (double) box.side / size;
        for (int i = 0; i + 1 < xy.length; i += 2) {
            float u = mirror ? (size - 1) - xy[i] : xy[i];
            xy[i] = (float) (box.x0 - 0.5 + (u + 0.5) * step);
            xy[i + 1] = (float) (box.y0 - 0.5 + (xy[i + 1] + 0.5) * step);
        }
    }
}
