package org.handlite.app;

import android.app.Activity;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.handlite.core.BenchmarkResultWriter;
import org.handlite.core.Json;
import org.handlite.core.Preprocess;

/**
 * Benchmarks one model on a fixed input, no camera, for the harness's `app` runner
 * (handlite.bench.runners.AppRunner). Started with
 *
 * <pre>
 * am start -S -W -n org.handlite.app/.BenchmarkActivity --es model PATH --es delegate cpu \
 *     --ei threads 4 --ei runs 100 --ei warmup 10 --es out result.json
 * </pre>
 *
 * Extras: model (device path, or a file name in the app's external files/handlite/models),
 * delegate (cpu|xnnpack|gpu|nnapi, default cpu), threads (1), runs (50), warmup (5), out
 * (result file name, default result.json), serial (optional: the adb serial, for the
 * record's target id). Writes one handlite.bench/1 record to
 * getExternalFilesDir(null)/handlite/OUT (atomically), logs "RESULT <one-line json>" under
 * the tag handlite.bench (or "ERROR <message>" when it failed), and finishes.
 *
 * <p>A delegate that cannot start is a failed record, never a silent CPU run.
 */
public class BenchmarkActivity extends Activity {
    static final String LOG_TAG = "handlite.bench";
    /** logcat drops the rest of a longer message; the file always has the whole record */
    private static final int MAX_LOG_CHARS = 3800;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_benchmark);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        final Bundle extras = getIntent().getExtras() == null ? new Bundle() : getIntent().getExtras();
        // off the main thread: a long run must not trip the "not responding" dialog
        Thread worker = new Thread(() -> {
            runAndReport(extras);
            runOnUiThread(this::finish);
        }, "handlite-bench");
        worker.start();
    }

    private void runAndReport(Bundle extras) {
        BenchmarkResultWriter.Run run = new BenchmarkResultWriter.Run();
        String out = "result.json";
        try {
            out = stringExtra(extras, "out", "result.json");
            run.serial = stringExtra(extras, "serial", null);
            describeDevice(run);
            run.delegate = HandLandmarker.Backend.parse(stringExtra(extras, "delegate", "cpu")).id();
            run.threads = intExtra(extras, "threads", 1, 1);
            run.runs = intExtra(extras, "runs", 50, 1);
            run.warmup = intExtra(extras, "warmup", 5, 0);
            File model = resolveModel(stringExtra(extras, "model", null));
            run.modelPath = model.getAbsolutePath();
            run.modelBytes = model.length();
            try (InputStream in = new FileInputStream(model)) {
                run.modelSha256 = BenchmarkResultWriter.sha256(in);
            }
            measure(model, run);
        } catch (Exception | OutOfMemoryError e) {
            run.ok = false;
            run.error = e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        File dir = new File(getExternalFilesDir(null), "handlite");
        try {
            String line = BenchmarkResultWriter.write(run, dir, out);
            if (run.ok) {
                Log.i(LOG_TAG, "RESULT " + forLog(line));
            } else {
                Log.e(LOG_TAG, "ERROR " + run.error);
            }
        } catch (IOException e) {
            Log.e(LOG_TAG, "ERROR cannot write " + new File(dir, out) + ": " + e.getMessage());
        }
    }

    /** Warm-up, then timed runs of the whole pipeline on a fixed synthetic frame. */
    private void measure(File model, BenchmarkResultWriter.Run run) throws IOException {
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

    private File resolveModel(String name) throws IOException {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("no model given (extra 'model': a device path)");
        }
        File f = name.contains("/") ? new File(name) : new File(HandLandmarker.modelsDir(this), name);
        if (!f.isFile()) {
            throw new IOException("model not found: " + f);
        }
        if (!f.canRead()) {
            throw new IOException("model not readable by the app: " + f
                    + " (push it into " + HandLandmarker.modelsDir(this) + ")");
        }
        return f;
    }

    private static void describeDevice(BenchmarkResultWriter.Run run) {
        run.deviceModel = Build.MODEL;
        run.soc = Build.VERSION.SDK_INT >= 31 ? Build.SOC_MODEL : null;
        run.abi = Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : null;
        run.cpu = Build.HARDWARE;
        run.cores = Runtime.getRuntime().availableProcessors();
        run.os = "Android " + Build.VERSION.RELEASE + " (SDK " + Build.VERSION.SDK_INT + ")";
    }

    /** String extras; `am start --ei` and `--es` both work for numbers. */
    private static String stringExtra(Bundle b, String key, String fallback) {
        Object v = b.get(key);
        return v == null ? fallback : String.valueOf(v);
    }

    private static int intExtra(Bundle b, String key, int fallback, int min) {
        Object v = b.get(key);
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
    private static String forLog(String line) {
        if (line.length() <= MAX_LOG_CHARS) {
            return line;
        }
        Map<String, Object> rec = Json.parseObject(line);
        Map<String, Object> samples = (Map<String, Object>) rec.get("samples_ms");
        for (String k : samples.keySet()) {
            samples.put(k, new double[0]);
        }
        ((java.util.List<Object>) rec.get("flags")).add("samples_in_file_only");
        return Json.write(rec);
    }
}
