package org.handlite.app;

import android.Manifest;
import android.content.pm.PackageManager;
import android.os.Bundle;
import android.util.Log;
import android.view.View;
import android.widget.AdapterView;
import android.widget.Spinner;
import android.widget.TextView;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContracts;
import androidx.appcompat.app.AppCompatActivity;
import androidx.appcompat.widget.SwitchCompat;
import androidx.camera.core.CameraSelector;
import androidx.camera.core.ImageAnalysis;
import androidx.camera.core.ImageProxy;
import androidx.camera.core.Preview;
import androidx.camera.lifecycle.ProcessCameraProvider;
import androidx.camera.view.PreviewView;
import androidx.core.content.ContextCompat;
import com.google.common.util.concurrent.ListenableFuture;
import java.io.File;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.handlite.core.FpsMeter;
import org.handlite.core.LatencyStats;
import org.handlite.core.Preprocess;

/**
 * Live hand keypoints: the camera preview, a box the user places around one hand, the
 * skeleton the model finds inside it, and fps / latency. All inference work happens in
 * {@link HandLandmarker} on the analysis thread; this class only wires views and camera.
 */
public class MainActivity extends AppCompatActivity {
    private static final String TAG = "handlite";
    private static final int LATENCY_WINDOW = 30;

    private final ExecutorService analysis = Executors.newSingleThreadExecutor();
    private final FpsMeter fps = new FpsMeter(LATENCY_WINDOW);
    private final double[] recentMs = new double[LATENCY_WINDOW];
    private int recentCount;

    private PreviewView preview;
    private HandOverlayView overlay;
    private TextView stats;
    private TextView warning;

    // owned by the analysis thread
    private HandLandmarker landmarker;
    private volatile HandLandmarker.Backend wanted = HandLandmarker.Backend.XNNPACK;
    private volatile boolean left;
    private HandLandmarker.Backend failedBackend;
    private byte[] frameBytes;

    private final ActivityResultLauncher<String> cameraPermission = registerForActivityResult(
            new ActivityResultContracts.RequestPermission(), granted -> {
                if (granted) {
                    startCamera();
                } else {
                    showWarning(getString(R.string.camera_denied));
                }
            });

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        preview = findViewById(R.id.preview);
        overlay = findViewById(R.id.overlay);
        stats = findViewById(R.id.stats);
        warning = findViewById(R.id.warning);
        SwitchCompat leftHand = findViewById(R.id.left_hand);
        leftHand.setOnCheckedChangeListener((button, checked) -> left = checked);
        Spinner delegate = findViewById(R.id.delegate);
        delegate.setSelection(HandLandmarker.Backend.XNNPACK.ordinal());
        delegate.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                wanted = HandLandmarker.Backend.values()[position];
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
                // keep the current delegate
            }
        });
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA)
                == PackageManager.PERMISSION_GRANTED) {
            startCamera();
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA);
        }
    }

    private void startCamera() {
        ListenableFuture<ProcessCameraProvider> future = ProcessCameraProvider.getInstance(this);
        future.addListener(() -> {
            try {
                ProcessCameraProvider provider = future.get();
                Preview previewUseCase = new Preview.Builder().build();
                previewUseCase.setSurfaceProvider(preview.getSurfaceProvider());
                ImageAnalysis imageAnalysis = new ImageAnalysis.Builder()
                        // a slow model sees the newest frame, never a growing queue
                        .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                        .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                        .build();
                imageAnalysis.setAnalyzer(analysis, this::analyze);
                provider.unbindAll();
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase, imageAnalysis);
            } catch (Exception e) {
                Log.e(TAG, "camera start failed", e);
                showWarning("Camera failed: " + e.getMessage());
            }
        }, ContextCompat.getMainExecutor(this));
    }

    /** Analysis thread: one frame in, keypoints and timings out. */
    private void analyze(ImageProxy frame) {
        try {
            if (!ensureLandmarker()) {
                return;
            }
            ImageProxy.PlaneProxy plane = frame.getPlanes()[0];
            ByteBuffer buf = plane.getBuffer();
            buf.rewind();
            if (frameBytes == null || frameBytes.length != buf.remaining()) {
                frameBytes = new byte[buf.remaining()];
            }
            buf.get(frameBytes);
            Preprocess.Image raw = Preprocess.rgba(frameBytes, frame.getWidth(), frame.getHeight(),
                    plane.getRowStride());
            Preprocess.Image upright = Preprocess.rotated(raw, frame.getImageInfo().getRotationDegrees());
            overlay.setImageSize(upright.width(), upright.height());
            Preprocess.Box box = overlay.imageBox();
            if (box == null) {
                return;
            }
            HandLandmarker.Result r = landmarker.detect(upright, box, left);
            overlay.setResult(r.xy, r.scores, landmarker.metadata.skeleton,
                    landmarker.metadata.decode.minConfidence);
            showStats(r, fps.tick(System.nanoTime()));
        } catch (RuntimeException | LinkageError e) {
            Log.e(TAG, "frame failed", e);
            showWarning("Inference failed: " + e.getMessage());
        } finally {
            frame.close();
        }
    }

    /** (Re)build the landmarker when the delegate choice changed; false when there is no model. */
    private boolean ensureLandmarker() {
        HandLandmarker.Backend backend = wanted;
        if (landmarker != null && landmarker.requested == backend) {
            return true;
        }
        if (landmarker == null && failedBackend == backend) {
            return false; // do not retry a failing choice on every frame
        }
        if (landmarker != null) {
            landmarker.close();
            landmarker = null;
        }
        try {
            File pushed = HandLandmarker.pushedModel(this);
            ByteBuffer model = pushed != null ? HandLandmarker.map(pushed)
                    : HandLandmarker.mapAsset(this, HandLandmarker.ASSET_MODEL);
            landmarker = new HandLandmarker(model, backend, 4, true);
            failedBackend = null;
            recentCount = 0;
            fps.reset();
            String source = pushed != null ? pushed.getName() : "bundled " + HandLandmarker.ASSET_MODEL;
            showWarning(landmarker.fallbackReason == null ? null
                    : landmarker.fallbackReason + " - running on CPU (XNNPACK)");
            Log.i(TAG, "model " + source + ": " + landmarker.metadata + " on " + landmarker.active.id());
            return true;
        } catch (java.io.IOException e) {
            showWarning("No model: push one with `handlite bench --runner app` or put "
                    + HandLandmarker.ASSET_MODEL + " into " + HandLandmarker.modelsDir(this));
        } catch (RuntimeException | LinkageError e) {
            // LinkageError: no usable LiteRT native library on this phone; say so, do not crash
            showWarning("Model failed to load: " + e.getMessage());
        }
        failedBackend = backend;
        return false;
    }

    private void showStats(HandLandmarker.Result r, double framesPerSecond) {
        recentMs[recentCount % LATENCY_WINDOW] = r.pipelineMs();
        recentCount++;
        double[] window = java.util.Arrays.copyOf(recentMs, Math.min(recentCount, LATENCY_WINDOW));
        LatencyStats s = LatencyStats.of(window);
        final String text = String.format(Locale.ROOT,
                "%s  %.1f fps | pipeline median %.1f ms (p90 %.1f) | invoke %.1f ms",
                landmarker.active.id(), framesPerSecond, s.median, s.p90, r.invokeMs);
        runOnUiThread(() -> stats.setText(text));
    }

    private void showWarning(final String text) {
        runOnUiThread(() -> {
            warning.setVisibility(text == null ? View.GONE : View.VISIBLE);
            warning.setText(text == null ? "" : text);
        });
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        analysis.execute(() -> {
            if (landmarker != null) {
                landmarker.close();
                landmarker = null;
            }
        });
        analysis.shutdown();
    }
}
