package org.handlite.core;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The {@code handlite.model/1} description a .tflite carries about itself (docs/CONTRACTS.md):
 * UTF-8 JSON in the buffer that the flatbuffer's metadata entry named "handlite" points at.
 * The app reads input size, normalisation, stride and decode settings from here instead of
 * hard-coding them.
 *
 * <p>Units: sizes in pixels; mean/std/pad in 0..255 pixel units; scale/zero point as TFLite
 * quantisation (real = (q - zeroPoint) * scale).
 */
public final class ModelMetadata {
    public static final String ENTRY_NAME = "handlite";
    public static final String FORMAT = "handlite.model/1";

    /** A model without handlite metadata, with corrupt metadata, or not a .tflite at all. */
    public static final class MetadataException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public MetadataException(String message) {
            super(message);
        }

        public MetadataException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    public final String format;
    public final String handliteVersion;
    public final String variant;
    public final int inputSize;
    public final String precision;
    public final String channelOrder;
    public final float[] mean;
    public final float[] std;
    public final int padValue;
    public final String inputName;
    public final int[] inputShape;
    public final String inputDtype;
    /** NaN when the input is not quantised. */
    public final float inputScale;
    public final int inputZeroPoint;
    public final String outputKind;
    public final String outputDtype;
    public final float outputScale;
    public final int outputZeroPoint;
    public final int stride;
    public final int heatmapSize;
    public final int numKeypoints;
    public final List<String> keypointNames;
    public final int[][] skeleton;
    public final float sigma;
    public final HeatmapDecoder.Settings decode;
    public final String sourceModelSha256;
    public final String createdUtc;
    /** The parsed JSON, for fields this class does not name. */
    public final Map<String, Object> raw;

    private ModelMetadata(Map<String, Object> j) {
        raw = Collections.unmodifiableMap(j);
        format = Json.getString(j, "format", null);
        if (format == null || !format.startsWith("handlite.model/")) {
            throw new MetadataException("metadata format is " + format + ", expected " + FORMAT);
        }
        if (!FORMAT.equals(format)) {
            throw new MetadataException("metadata format " + format + " is newer than this app ("
                    + FORMAT + "); update the app");
        }
        handliteVersion = Json.getString(j, "handlite_version", null);
        variant = Json.getString(j, "variant", null);
        inputSize = positive(Json.getInt(j, "input_size", -1), "input_size");
        precision = Json.getString(j, "precision", null);
        channelOrder = Json.getString(j, "channel_order", "RGB");
        if (!"RGB".equals(channelOrder) && !"BGR".equals(channelOrder)) {
            throw new MetadataException("channel_order must be RGB or BGR, got " + channelOrder);
        }
        Map<String, Object> norm = Json.getObject(j, "normalization");
        if (norm == null) {
            throw new MetadataException("metadata has no 'normalization'");
        }
        mean = triple(Json.getDoubles(norm, "mean"), "normalization.mean");
        std = triple(Json.getDoubles(norm, "std"), "normalization.std");
        for (float s : std) {
            if (!(s > 0)) {
                throw new MetadataException("normalization.std must be positive");
            }
        }
        padValue = Json.getInt(norm, "pad_value", 128);

        Map<String, Object> in = Json.getObject(j, "input");
        if (in == null) {
            throw new MetadataException("metadata has no 'input'");
        }
        inputName = Json.getString(in, "name", null);
        double[] shape = Json.getDoubles(in, "shape");
        inputShape = shape == null ? new int[] {1, inputSize, inputSize, 3} : toInts(shape, "input.shape");
        inputDtype = dtype(Json.getString(in, "dtype", "float32"), "input.dtype");
        inputScale = (float) Json.getDouble(in, "scale", Double.NaN);
        inputZeroPoint = Json.getInt(in, "zero_point", 0);
        if (!"float32".equals(inputDtype) && !(inputScale > 0)) {
            throw new MetadataException("a " + inputDtype + " input needs a positive input.scale");
        }

        Map<String, Object> out = Json.getObject(j, "output");
        if (out == null) {
            throw new MetadataException("metadata has no 'output'");
        }
        outputKind = Json.getString(out, "kind", "heatmaps");
        if (!"heatmaps".equals(outputKind) && !"keypoints".equals(outputKind)) {
            throw new MetadataException("output.kind must be heatmaps or keypoints, got " + outputKind);
        }
        outputDtype = dtype(Json.getString(out, "dtype", "float32"), "output.dtype");
        outputScale = (float) Json.getDouble(out, "scale", Double.NaN);
        outputZeroPoint = Json.getInt(out, "zero_point", 0);

        stride = positive(Json.getInt(j, "stride", 4), "stride");
        heatmapSize = positive(Json.getInt(j, "heatmap_size", inputSize / stride), "heatmap_size");
        if (heatmapSize * stride != inputSize) {
            throw new MetadataException("heatmap_size " + heatmapSize + " x stride " + stride
                    + " != input_size " + inputSize);
        }
        numKeypoints = positive(Json.getInt(j, "num_keypoints", HandSkeleton.NUM_KEYPOINTS), "num_keypoints");
        List<Object> names = Json.getArray(j, "keypoint_names");
        if (names == null) {
            keypointNames = java.util.Arrays.asList(HandSkeleton.NAMES);
        } else {
            String[] arr = new String[names.size()];
            for (int i = 0; i < arr.length; i++) {
                arr[i] = String.valueOf(names.get(i));
            }
            keypointNames = java.util.Arrays.asList(arr);
        }
        if (keypointNames.size() != numKeypoints) {
            throw new MetadataException(keypointNames.size() + " keypoint names for "
                    + numKeypoints + " keypoints");
        }
        List<Object> bones = Json.getArray(j, "skeleton");
        if (bones == null) {
            skeleton = HandSkeleton.BONES;
        } else {
            skeleton = new int[bones.size()][];
            for (int i = 0; i < skeleton.length; i++) {
                if (!(bones.get(i) instanceof List) || ((List<?>) bones.get(i)).size() != 2) {
                    throw new MetadataException("skeleton entries must be [a, b] pairs");
                }
                List<?> pair = (List<?>) bones.get(i);
                int a = Json.toInt(pair.get(0), "skeleton");
                int b = Json.toInt(pair.get(1), "skeleton");
                if (a < 0 || b < 0 || a >= numKeypoints || b >= numKeypoints) {
                    throw new MetadataException("skeleton bone [" + a + ", " + b + "] outside 0.."
                            + (numKeypoints - 1));
                }
                skeleton[i] = new int[] {a, b};
            }
        }
        sigma = (float) Json.getDouble(j, "sigma", 2.0);
        Map<String, Object> d = Json.getObject(j, "decode");
        HeatmapDecoder.Settings def = HeatmapDecoder.Settings.defaults();
        try {
            decode = d == null ? def : new HeatmapDecoder.Settings(
                    Json.getDouble(d, "softmax_beta", def.softmaxBeta),
                    Json.getDouble(d, "min_confidence", def.minConfidence),
                    Json.getInt(d, "fallback_peaks", def.fallbackPeaks),
                    Json.getString(d, "refine", def.refine));
        } catch (IllegalArgumentException e) {
            throw new MetadataException("bad decode settings: " + e.getMessage(), e);
        }
        sourceModelSha256 = Json.getString(j, "source_model_sha256", null);
        createdUtc = Json.getString(j, "created_utc", null);
    }

    private static int positive(int v, String what) {
        if (v <= 0) {
            throw new MetadataException(what + " must be a positive whole number, got " + v);
        }
        return v;
    }

    private static float[] triple(double[] v, String what) {
        if (v == null || v.length != 3) {
            throw new MetadataException(what + " must hold 3 numbers");
        }
        return new float[] {(float) v[0], (float) v[1], (float) v[2]};
    }

    private static int[] toInts(double[] v, String what) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Json.toInt(v[i], what);
        }
        return out;
    }

    private static String dtype(String d, String what) {
        if (!"float32".equals(d) && !"uint8".equals(d) && !"int8".equals(d)) {
            throw new MetadataException(what + " must be float32, uint8 or int8, got " + d);
        }
        return d;
    }

    public boolean inputQuantized() {
        return !"float32".equals(inputDtype);
    }

    public boolean outputQuantized() {
        return !"float32".equals(outputDtype);
    }

    /** A decoder configured from this model's stride and decode settings. */
    public HeatmapDecoder decoder() {
        return new HeatmapDecoder(stride, numKeypoints, decode);
    }

    /** A preprocessor for this model's input size, channel order, normalisation and dtype. */
    public Preprocess preprocess() {
        return new Preprocess(inputSize, "BGR".equals(channelOrder), mean, std, padValue,
                inputDtype, inputScale, inputZeroPoint);
    }

    // ------------------------------------------------------------------ reading

    /** Parse the metadata JSON text itself. */
    public static ModelMetadata fromJson(String json) {
        Map<String, Object> obj;
        try {
            obj = Json.parseObject(json);
        } catch (Json.JsonException e) {
            throw new MetadataException("handlite metadata is not valid JSON: " + e.getMessage(), e);
        }
        try {
            return new ModelMetadata(obj);
        } catch (Json.JsonException e) {
            throw new MetadataException("handlite metadata: " + e.getMessage(), e);
        }
    }

    /** The raw "handlite" metadata JSON of a .tflite model held in memory. */
    public static String jsonFromModel(byte[] model) {
        TfliteFlatbuffer fb = new TfliteFlatbuffer(model);
        Map<String, Long> entries = fb.metadataEntries();
        Long buffer = entries.get(ENTRY_NAME);
        if (buffer == null) {
            throw new MetadataException("the model has no '" + ENTRY_NAME + "' metadata (entries: "
                    + entries.keySet() + "); export it with `handlite export`");
        }
        byte[] bytes = fb.bufferBytes(buffer);
        try {
            // strict decoding: a corrupt buffer should fail here, not as odd JSON later
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new MetadataException("the handlite metadata is not UTF-8", e);
        }
    }

    /** Read the metadata of a .tflite model held in memory. */
    public static ModelMetadata fromModel(byte[] model) {
        ModelMetadata meta = fromJson(jsonFromModel(model));
        meta.checkAgainstTensors(new TfliteFlatbuffer(model));
        return meta;
    }

    /** Read the metadata of a .tflite file. */
    public static ModelMetadata read(Path path) throws IOException {
        return fromModel(Files.readAllBytes(path));
    }

    /** Metadata that disagrees with the graph it describes would feed the wrong input. */
    private void checkAgainstTensors(TfliteFlatbuffer fb) {
        List<TfliteFlatbuffer.TensorInfo> inputs = fb.tensors(1);
        if (inputs.isEmpty()) {
            return;
        }
        int[] shape = inputs.get(0).shape;
        if (shape.length == 4 && (shape[1] != inputSize || shape[2] != inputSize)) {
            throw new MetadataException("metadata says input " + inputSize + "x" + inputSize
                    + " but the model's input tensor is " + java.util.Arrays.toString(shape));
        }
    }

    @Override
    public String toString() {
        return "ModelMetadata{" + variant + ", " + inputSize + "px " + precision + ", stride "
                + stride + ", " + numKeypoints + " keypoints, output " + outputKind + "}";
    }
}
