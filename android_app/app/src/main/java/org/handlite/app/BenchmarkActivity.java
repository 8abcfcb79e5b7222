package org.handlite.app;

import android.app.Activity;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import java.io.File;
import java.util.HashMap;
import java.util.Map;
import org.handlite.core.BenchmarkResultWriter;

/**
 * Benchmarks one model on a fixed input, no camera, for the harness's `app` runner
 * (handlite.bench.runners.AppRunner). Started with
 *
 * <pre>
 * am start -S -W -n org.handlite.app/.BenchmarkActivity --es model PATH --es delegate cpu \
 *     --ei threads 4 --ei runs 100 --ei warmup 10 --es out result.json \
 *     [--es input_file PATH --es output_file NAME]
 * </pre>
 *
 * The extras and what is measured are {@link BenchmarkJob}'s. Writes one handlite.bench/1
 * record to getExternalFilesDir(null)/handlite/OUT (atomically), logs "RESULT <one-line
 * json>" under the tag handlite.bench (or "ERROR <message>" when it failed, whatever was
 * thrown, Errors included), and finishes.
 *
 * <p>A delegate that cannot start is a failed record, never a silent CPU run.
 */
public class BenchmarkActivity extends Activity {
    static final String LOG_TAG = "handlite.bench";

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_benchmark);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        final Map<String, Object> extras = extras(getIntent().getExtras());
        final File filesDir = new File(getExternalFilesDir(null), "handlite");
        final File modelsDir = HandLandmarker.modelsDir(this);
        // off the main thread: a long run must not trip the "not responding" dialog
        Thread worker = new Thread(() -> {
            try {
                BenchmarkJob.Report report = new BenchmarkJob(extras, filesDir, modelsDir).run(device());
                if (report.ok) {
                    Log.i(LOG_TAG, "RESULT " + report.logLine);
                } else {
                    Log.e(LOG_TAG, "ERROR " + report.logLine);
                }
            } catch (Throwable t) {
                // the job reports its own failures; this is the last line of defence, so
                // the harness reads a reason instead of waiting for its timeout
                Log.e(LOG_TAG, "ERROR " + BenchmarkResultWriter.describe(t));
            }
            runOnUiThread(this::finish);
        }, "handlite-bench");
        worker.start();
    }

    private static Map<String, Object> extras(Bundle bundle) {
        Map<String, Object> map = new HashMap<>();
        if (bundle != null) {
            for (String key : bundle.keySet()) {
                map.put(key, bundle.get(key));
            }
        }
        return map;
    }

    private static BenchmarkResultWriter.Run device() {
        BenchmarkResultWriter.Run run = new BenchmarkResultWriter.Run();
        run.deviceModel = Build.MODEL;
        run.soc = Build.VERSION.SDK_INT >= 31 ? Build.SOC_MODEL : null;
        run.abi = Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : null;
        run.cpu = Build.HARDWARE;
        run.cores = Runtime.getRuntime().availableProcessors();
        run.os = "Android " + Build.VERSION.RELEASE + " (SDK " + Build.VERSION.SDK_INT + ")";
        return run;
    }
}
