package org.handlite.app;

import android.content.Context;
import android.content.res.AssetFileDescriptor;
import android.util.Log;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.handlite.core.BenchmarkResultWriter;
import org.handlite.core.HeatmapDecoder;
import org.handlite.core.ModelMetadata;
import org.handlite.core.Preprocess;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * Owns one model, its LiteRT interpreter and delegate, and the timing of each step; the
 * Activities only show what it returns. Everything the pipeline needs (input size,
 * normalisation, stride, decode settings) comes from the model's handlite metadata.
 *
 * <p>Units: keypoints in image pixels (the frame given to {@link #detect}), times in ms.
 * Not thread-safe: call it from one thread (the camera analyser's, or the benchmark's).
 */
public final class HandLandmarker implements AutoCloseable {
    private static final String TAG = "handlite";
    /** A bundled model at assets/handlite.tflite is used when nothing was pushed. */
    public static final String ASSET_MODEL = "handlite.tflite";

    /** Where inference runs. XNNPACK is LiteRT's optimised CPU path; CPU is the plain one. */
    public enum Backend {
        CPU, XNNPACK, GPU, NNAPI;

        public static Backend parse(String name) {
            for (Backend b : values()) {
                if (b.name().equalsIgnoreCase(name == null ? "" : name.trim())) {
                    return b;
                }
            }
            throw new IllegalArgumentException("unknown delegate '" + name
                    + "'; choose from cpu, xnnpack, gpu, nnapi");
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** One hand: keypoints (x, y pairs) and scores, with the time of each step. */
    public static final class Result {
        public final float[] xy;
        public final float[] scores;
        public final double preprocessMs;
        public final double invokeMs;
        public final double decodeMs;

        Result(float[] xy, float[] scores, double preprocessMs, double invokeMs, double decodeMs) {
            this.xy = xy;
            this.scores = scores;
            this.preprocessMs = preprocessMs;
            this.invokeMs = invokeMs;
            this.decodeMs = decodeMs;
        }

        public double pipelineMs() {
            return preprocessMs + invokeMs + decodeMs;
        }
    }

    public final ModelMetadata metadata;
    public final Backend requested;
    public final Backend active;
    /** Why the requested delegate could not be used (null when it is the active one). */
    public final String fallbackReason;
    /** Time to build the interpreter with its delegate, ms. */
    public final double initMs;

    private final Interpreter interpreter;
    private final Delegate delegate;
    private final Preprocess preprocess;
    private final HeatmapDecoder decoder;
    private final ByteBuffer input;
    private final ByteBuffer output;
    private final DataType inputType;
    private final DataType outputType;
    private final float outputScale;
    private final int outputZeroPoint;
    private final int[] outputShape;
    private byte[] outputBytes;

    /**
     * @param model the .tflite bytes (a mapped file is best: LiteRT reads weights in place)
     * @param allowFallback when the delegate cannot start, run on XNNPACK and say why
     *     ({@link #fallbackReason}); the benchmark passes false so a "gpu" result is never a
     *     CPU number
     */
    public HandLandmarker(ByteBuffer model, Backend backend, int threads, boolean allowFallback) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.metadata = ModelMetadata.fromModel(copy(model));
        if (!"heatmaps".equals(metadata.outputKind)) {
            throw new IllegalArgumentException("this app decodes heatmap models; " + metadata.variant
                    + " outputs " + metadata.outputKind);
        }
        this.requested = backend;
        long t0 = System.nanoTime();
        Interpreter built = null;
        Delegate used = null;
        Backend running = backend;
        String reason = null;
        try {
            used = makeDelegate(backend);
            built = new Interpreter(model, options(backend, threads, used));
        } catch (RuntimeException | LinkageError e) {
            // LinkageError: a delegate's native library missing or too old for this phone
            closeQuietly(used);
            used = null;
            if (backend == Backend.CPU || backend == Backend.XNNPACK) {
                throw e; // no delegate to blame: the runtime's own error, class and all
            }
            if (!allowFallback) {
                throw new IllegalStateException(backend.id() + " delegate failed: "
                        + BenchmarkResultWriter.describe(e), e);
            }
            reason = backend.id() + " failed (" + message(e) + ")";
            Log.w(TAG, reason + "; falling back to CPU (XNNPACK)");
            running = Backend.XNNPACK;
            built = new Interpreter(model, options(Backend.XNNPACK, threads, null));
        }
        this.initMs = (System.nanoTime() - t0) / 1e6;
        this.interpreter = built;
        this.delegate = used;
        this.active = running;
        this.fallbackReason = reason;

        Tensor in = interpreter.getInputTensor(0);
        int size = metadata.inputSize;
        if (!Arrays.equals(in.shape(), new int[] {1, size, size, 3})) {
            throw new IllegalArgumentException("input tensor " + Arrays.toString(in.shape())
                    + " does not match the metadata's input size " + size);
        }
        inputType = in.dataType();
        // the tensor's own quantisation wins over the metadata copy: it is what runs
        float inScale = in.quantizationParams().getScale();
        int inZero = in.quantizationParams().getZeroPoint();
        String dtype = inputType == DataType.FLOAT32 ? "float32" : inputType == DataType.UINT8 ? "uint8" : "int8";
        this.preprocess = new Preprocess(size, "BGR".equals(metadata.channelOrder), metadata.mean,
                metadata.std, metadata.padValue, dtype, inScale > 0 ? inScale : metadata.inputScale,
                inScale > 0 ? inZero : metadata.inputZeroPoint);
        this.input = ByteBuffer.allocateDirect(in.numBytes()).order(ByteOrder.nativeOrder());

        Tensor out = interpreter.getOutputTensor(0);
        outputShape = out.shape();
        outputType = out.dataType();
        outputScale = out.quantizationParams().getScale();
        outputZeroPoint = out.quantizationParams().getZeroPoint();
        this.output = ByteBuffer.allocateDirect(out.numBytes()).order(ByteOrder.nativeOrder());
        this.decoder = metadata.decoder();
    }

    private static Delegate makeDelegate(Backend backend) {
        switch (backend) {
            case GPU:
                CompatibilityList compat = new CompatibilityList();
                try {
                    if (!compat.isDelegateSupportedOnThisDevice()) {
                        throw new IllegalStateException("the GPU delegate does not support this device");
                    }
                    return new GpuDelegate(compat.getBestOptionsForThisDevice());
                } finally {
                    compat.close();
                }
            case NNAPI:
                return new NnApiDelegate();
            default:
                return null;
        }
    }

    private static Interpreter.Options options(Backend backend, int threads, Delegate delegate) {
        Interpreter.Options o = new Interpreter.Options().setNumThreads(threads);
        o.setUseXNNPACK(backend == Backend.XNNPACK);
        if (delegate != null) {
            o.addDelegate(delegate);
        }
        return o;
    }

    /** Crop the box, run the model, decode: keypoints in image pixels. */
    public Result detect(Preprocess.Image image, Preprocess.Box box, boolean leftHand) {
        long t0 = System.nanoTime();
        float[] normalized = preprocess.normalized(image, box, leftHand);
        fillInput(normalized);
        long t1 = System.nanoTime();
        output.rewind();
        interpreter.run(input, output);
        long t2 = System.nanoTime();
        HeatmapDecoder.Result r = decodeOutput();
        float[] xy = r.xy.clone();
        preprocess.toImage(xy, box, leftHand);
        long t3 = System.nanoTime();
        return new Result(xy, r.scores, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6);
    }

    private void fillInput(float[] normalized) {
        input.rewind();
        if (inputType == DataType.FLOAT32) {
            input.asFloatBuffer().put(normalized);
        } else {
            input.put(preprocess.quantize(normalized));
        }
        input.rewind();
    }

    /** The output maps to keypoints: float maps as they are, int8/uint8 from the raw bytes
     * (decode_quantized's twin: no float copy of the maps). */
    private HeatmapDecoder.Result decodeOutput() {
        output.rewind();
        int h = outputShape[1];
        int w = outputShape[2];
        int c = outputShape[3];
        if (outputType == DataType.FLOAT32) {
            float[] maps = new float[output.capacity() / 4];
            output.asFloatBuffer().get(maps);
            return decoder.decode(maps, h, w, c);
        }
        if (outputBytes == null) {
            outputBytes = new byte[output.capacity()];
        }
        output.get(outputBytes);
        return decoder.decodeQuantized(outputBytes, h, w, c, outputType == DataType.UINT8,
                outputScale, outputZeroPoint);
    }

    /**
     * One invoke on raw input tensor bytes (the layout the host runtime feeds: normalised,
     * quantised for integer inputs, native byte order) -> the raw bytes of every output
     * tensor, in output order: what benchmark_model's --output_filepath writes, for parity.
     */
    public byte[] invokeRaw(byte[] tensorBytes) {
        if (tensorBytes.length != input.capacity()) {
            throw new IllegalArgumentException("input file has " + tensorBytes.length
                    + " bytes, the model's input tensor needs " + input.capacity());
        }
        input.clear();
        input.put(tensorBytes);
        input.rewind();
        int n = interpreter.getOutputTensorCount();
        ByteBuffer[] outs = new ByteBuffer[n];
        Map<Integer, Object> byIndex = new HashMap<>();
        int total = 0;
        for (int i = 0; i < n; i++) {
            outs[i] = ByteBuffer.allocateDirect(interpreter.getOutputTensor(i).numBytes())
                    .order(ByteOrder.nativeOrder());
            byIndex.put(i, outs[i]);
            total += outs[i].capacity();
        }
        interpreter.runForMultipleInputsOutputs(new Object[] {input}, byIndex);
        byte[] all = new byte[total];
        int offset = 0;
        for (ByteBuffer b : outs) {
            b.rewind();
            int size = b.remaining();
            b.get(all, offset, size);
            offset += size;
        }
        return all;
    }

    public int inputSize() {
        return metadata.inputSize;
    }

    /** LiteRT's native runtime version, for result records. */
    public static String runtimeVersion() {
        return "litert " + TensorFlowLite.runtimeVersion();
    }

    @Override
    public void close() {
        interpreter.close();
        closeQuietly(delegate);
    }

    private static void closeQuietly(Delegate d) {
        if (d instanceof AutoCloseable) {
            try {
                ((AutoCloseable) d).close();
            } catch (Exception ignored) {
                // closing a delegate that failed to start can fail again; nothing to do
            }
        }
    }

    private static String message(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.trim().isEmpty()) {
            return e.getClass().getSimpleName();
        }
        return m.trim().split("\n")[0];
    }

    private static byte[] copy(ByteBuffer b) {
        ByteBuffer view = b.duplicate();
        view.rewind();
        byte[] out = new byte[view.remaining()];
        view.get(out);
        return out;
    }

    // ------------------------------------------------------------------ model files

    /** The folder the harness pushes models into: external files / handlite / models. */
    public static File modelsDir(Context context) {
        return new File(new File(context.getExternalFilesDir(null), "handlite"), "models");
    }

    /** Memory-map a model file. */
    public static MappedByteBuffer map(File file) throws IOException {
        try (FileInputStream in = new FileInputStream(file); FileChannel ch = in.getChannel()) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        }
    }

    /** Memory-map a model stored uncompressed in the APK's assets. */
    public static MappedByteBuffer mapAsset(Context context, String name) throws IOException {
        try (AssetFileDescriptor fd = context.getAssets().openFd(name);
             FileInputStream in = new FileInputStream(fd.getFileDescriptor());
             FileChannel ch = in.getChannel()) {
            return ch.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        }
    }

    /**
     * The model the live view uses: the newest .tflite the harness pushed, else the bundled
     * asset; null when there is neither.
     */
    public static File pushedModel(Context context) {
        File[] files = modelsDir(context).listFiles((dir, name) -> name.endsWith(".tflite"));
        if (files == null || files.length == 0) {
            return null;
        }
        Arrays.sort(files, (a, b) -> Long.compare(b.lastModified(), a.lastModified()));
        return files[0];
    }
}
