package org.handlite.app;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import org.handlite.core.BenchmarkResultWriter;
import org.handlite.core.Json;
import org.junit.Test;

/**
 * BenchmarkActivity's real code (BenchmarkJob, HandLandmarker) on the JVM. The LiteRT classes
 * are the build's stubs, which throw UnsatisfiedLinkError as the real ones do without their
 * native library: the run must still end in a failed record with the reason, never a thrown
 * Error (on a phone that would kill the worker thread and leave the harness waiting).
 */
public class BenchmarkJobTest {

    private static File tempDir() throws IOException {
        File dir = Files.createTempDirectory("handlite-app-test").toFile();
        dir.deleteOnExit();
        return dir;
    }

    private static File tinyModel(File dir) throws IOException {
        File model = new File(dir, "tiny_model.tflite");
        try (InputStream in = BenchmarkJobTest.class.getClassLoader()
                .getResourceAsStream("golden/tiny_model.tflite")) {
            Files.copy(in, model.toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        return model;
    }

    private static Map<String, Object> record(File dir, String name) throws IOException {
        String text = new String(Files.readAllBytes(new File(dir, name).toPath()), StandardCharsets.UTF_8);
        return Json.parseObject(text.trim());
    }

    private static BenchmarkJob.Report run(Map<String, Object> extras, File dir) {
        return new BenchmarkJob(extras, dir, new File(dir, "models")).run(new BenchmarkResultWriter.Run());
    }

    @Test
    public void aMissingNativeRuntimeIsAFailedRecordNotACrash() throws Exception {
        File dir = tempDir();
        Map<String, Object> extras = new HashMap<>();
        extras.put("model", tinyModel(dir).getAbsolutePath());
        extras.put("threads", 2);
        extras.put("runs", "3");
        extras.put("out", "r.json");
        BenchmarkJob.Report report = run(extras, dir);
        assertFalse(report.ok);
        assertTrue(report.logLine, report.logLine.startsWith("UnsatisfiedLinkError: "));
        Map<String, Object> rec = record(dir, "r.json");
        assertEquals("failed", rec.get("status"));
        assertEquals(report.logLine, rec.get("error"));
        // what was known before the failure is kept: the model's hash and the settings
        assertEquals(64, ((String) ((Map<?, ?>) rec.get("model")).get("sha256")).length());
        assertEquals(2, ((Number) ((Map<?, ?>) rec.get("settings")).get("threads")).intValue());
    }

    @Test
    public void aFailingGpuDelegateIsNamedInTheRecord() throws Exception {
        File dir = tempDir();
        Map<String, Object> extras = new HashMap<>();
        extras.put("model", tinyModel(dir).getAbsolutePath());
        extras.put("delegate", "gpu");
        BenchmarkJob.Report report = run(extras, dir);
        assertFalse(report.ok);
        // the stubs throw UnsatisfiedLinkError; the real classes on a JVM fail in their own way
        assertTrue(report.logLine, report.logLine.startsWith("IllegalStateException: gpu delegate failed: "));
        assertEquals("failed", record(dir, "result.json").get("status"));
    }

    @Test
    public void badExtrasAndMissingFilesAreFailedRecords() throws Exception {
        File dir = tempDir();
        Map<String, Object> extras = new HashMap<>();
        extras.put("model", "nowhere.tflite");
        BenchmarkJob.Report report = run(extras, dir);
        assertFalse(report.ok);
        assertTrue(report.logLine, report.logLine.startsWith("IOException: model not found: "));

        extras.put("model", tinyModel(dir).getAbsolutePath());
        extras.put("threads", 0);
        assertTrue(run(extras, dir).logLine.contains("'threads' must be at least 1"));

        extras.put("threads", 1);
        extras.put("output_file", "dump.bin");
        assertTrue(run(extras, dir).logLine.contains("needs both extras input_file and output_file"));
        assertFalse(new File(dir, "dump.bin").exists());
    }

    @Test
    public void anUnwritableResultFolderIsStillReported() throws Exception {
        File dir = tempDir();
        File notADir = new File(dir, "file");
        Files.write(notADir.toPath(), new byte[] {1});
        Map<String, Object> extras = new HashMap<>();
        extras.put("model", "nowhere.tflite");
        BenchmarkJob.Report report = new BenchmarkJob(extras, notADir, dir).run(new BenchmarkResultWriter.Run());
        assertFalse(report.ok);
        assertTrue(report.logLine, report.logLine.contains("cannot write"));
        assertTrue(report.logLine, report.logLine.startsWith("IOException: model not found"));
    }
}
