package org.handlite.app;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.handlite.core.BenchmarkResultWriter;
import org.handlite.core.Json;
import org.handlite.core.Preprocess;

/**
 * What {@link BenchmarkActivity} does, without the Activity: read the extras, run one cell,
 * write its record (and, for parity, the output tensors), and say what to log. No Android
 * imports, so the JVM tests run this very code (android_app/app/src/test).
 *
 * <p>Extras: model (device path, or a file name in the models folder), delegate
 * (cpu|xnnpack|gpu|nnapi, default cpu), threads (1), runs (50), warmup (5), out (result file
 * name, default result.json), serial (optional: the adb serial, for the record's target id);
 * for on-device parity, input_file (raw bytes of the input tensor: a device path, or a name
 * in the handlite folder) and output_file (a plain file name in the handlite folder, where
 * the raw bytes of every output tensor, in output order, are written: the layout of
 * benchmark_model's --output_filepath).
 *
 * <p>{@link #run} never throws: any {@link Throwable} from loading or running the model
 * (UnsatisfiedLinkError and NoSuchMethodError included) becomes a failed record.
 */
final class BenchmarkJob {
    /** logcat drops the rest of a longer message; the file always has the whole record */
    static final int MAX_LOG_CHARS = 3800;

    /** The outcome: the record (ok or failed) and the one line to log after "RESULT "/"ERROR ". */
    static final class Report {
        final BenchmarkResultWriter.Run run;
        final boolean ok;
        final String logLine;

        Report(BenchmarkResultWriter.Run run, boolean ok, String logLine) {
            this.run = run;
            this.ok = ok;
            this.logLine = logLine;
        }
    }

    private final Map<String, Object> extras;
    private final File filesDir;
    private final File modelsDir;

    /**
     * @param extras the intent's extras
     * @param filesDir the app's external files / handlite folder: results and dumps go here
     * @param modelsDir where model names without a folder are looked up
     */
    BenchmarkJob(Map<String, Object> extras, File filesDir, File modelsDir) {
        this.extras = extras;
        this.filesDir = filesDir;
        this.modelsDir = modelsDir;
    }

    /** Run the cell described by the extras on `run` (pre-filled with the device fields). */
    Report run(BenchmarkResultWriter.Run run) {
        String out = "result.json";
        try {
            out = stringExtra("out", "result.json");
            run.serial = stringExtra("serial", run.serial);
            run.delegate = HandLandmarker.Backend.parse(stringExtra("delegate", "cpu")).id();
            run.threads = intExtra("threads", 1, 1);
            run.runs = intExtra("runs", 50, 1);
            run.warmup = intExtra("warmup", 5, 0);
            File model = resolve(stringExtra("model", null), modelsDir, "model");
            File input = stringExtra("input_file", null) == null ? null
                    : resolve(stringExtra("input_file", null), filesDir, "input_file");
            String dump = stringExtra("output_file", null);
            if ((input == null) != (dump == null)) {
                throw new IllegalArgumentException("on-device parity needs both extras input_file and output_file");
            }
            run.modelPath = model.getAbsolutePath();
            run.modelBytes = model.length();
            try (InputStream in = new FileInputStream(model)) {
                run.modelSha256 = BenchmarkResultWriter.sha256(in);
            }
            measure(model, run, input, dump);
        } catch (Throwable t) { // Errors too: a missing LiteRT native library is one
            BenchmarkResultWriter.fail(run, t);
        }
        try {
            String line = BenchmarkResultWriter.write(run, filesDir, out);
            return run.ok ? new Report(run, true, forLog(line)) : new Report(run, false, run.error);
        } catch (Throwable t) {
            String reason = run.ok ? "" : run.error + "; ";
            return new Report(run, false, reason + "cannot write " + new File(filesDir, out) + ": "
                    + BenchmarkResultWriter.describe(t));
        }
    }

    /** Warm-up, then timed runs of the whole pipeline on a fixed synthetic frame. */
    private void measure(File model, BenchmarkResultWriter.Run run, File input, String dump)
            throws IOException {
        long t0 = System.nanoTime();
        try (HandLandmarker hand = new HandLandmarker(HandLandmarker.map(model),
                HandLandmarker.Backend.parse(run.delegate), run.threads, false)) {
            run.initMs = (System.nanoTime() - t0) / 1e6;
            run.variant = hand.metadata.variant;
            run.inputSize = hand.metadata.inputSize;
            run.precision = hand.metadata.precision;
            run.runtimeVersion = HandLandmarker.runtimeVersion();
            Preprocess.Image frame = fixedFrame(640, 480);
            Preprocess.Box box = Preprocess.Box.around(200, 120, 240, 240, 1f);
            double warmupTotal = 0;
            for (int i = 0; i < run.warmup; i++) {
                double ms = hand.detect(frame, box, false).pipelineMs();
                if (i == 0) {
                    run.firstMs = ms;
                }
                warmupTotal += ms;
            }
            run.warmupMeanMs = run.warmup > 0 ? warmupTotal / run.warmup : null;
            run.invokeMs = new double[run.runs];
            run.preprocessMs = new double[run.runs];
            run.decodeMs = new double[run.runs];
            run.pipelineMs = new double[run.runs];
            for (int i = 0; i < run.runs; i++) {
                HandLandmarker.Result r = hand.detect(frame, box, false);
                run.invokeMs[i] = r.invokeMs;
                run.preprocessMs[i] = r.preprocessMs;
                run.decodeMs[i] = r.decodeMs;
                run.pipelineMs[i] = r.pipelineMs();
                if (run.warmup == 0 && i == 0) {
                    run.firstMs = r.pipelineMs();
                }
            }
            if (input != null) {
                // after the timed runs, so parity never changes the timings: the same
                // interpreter and delegate, fed the given tensor bytes as they are
                byte[] outputs = hand.invokeRaw(Files.readAllBytes(input.toPath()));
                BenchmarkResultWriter.writeBytes(filesDir, dump, outputs);
            }
        }
    }

    /** A deterministic RGB frame (gradients), so every run of every phone sees the same input. */
    static Preprocess.Image fixedFrame(int w, int h) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (x * 255) / (w - 1);
                int g = (y * 255) / (h - 1);
                int b = ((x + y) * 7) & 0xff;
                px[y * w + x] = 0xff000000 | (r << 16) | (g << 8) | b;
            }
        }
        return Preprocess.argb(px, w, h);
    }

    private static File resolve(String name, File folder, String what) throws IOException {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("no " + what + " given (extra '" + what + "': a device path)");
        }
        File f = name.contains("/") ? new File(name) : new File(folder, name);
        if (!f.isFile()) {
            throw new IOException(what + " not found: " + f);
        }
        if (!f.canRead()) {
            throw new IOException(what + " not readable by the app: " + f + " (push it into " + folder + ")");
        }
        return f;
    }

    /** String extras; `am start --ei` and `--es` both work for numbers. */
    private String stringExtra(String key, String fallback) {
        Object v = extras.get(key);
        return v == null ? fallback : String.valueOf(v);
    }

    private int intExtra(String key, int fallback, int min) {
        Object v = extras.get(key);
        int value;
        if (v == null) {
            value = fallback;
        } else if (v instanceof Integer) {
            value = (Integer) v;
        } else {
            try {
                value = Integer.parseInt(String.valueOf(v).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("extra '" + key + "' must be a whole number, got " + v);
            }
        }
        if (value < min) {
            throw new IllegalArgumentException("extra '" + key + "' must be at least " + min + ", got " + value);
        }
        return value;
    }

    /** The record for the log line: whole when it fits, else without the raw samples. */
    @SuppressWarnings("unchecked")
    static String forLog(String line) {
        if (line.length() <= MAX_LOG_CHARS) {
            return line;
        }
        Map<String, Object> rec = Json.parseObject(line);
        Map<String, Object> samples = (Map<String, Object>) rec.get("samples_ms");
        for (String k : samples.keySet()) {
            samples.put(k, new double[0]);
        }
        ((List<Object>) rec.get("flags")).add("samples_in_file_only");
        return Json.write(rec);
    }
}
