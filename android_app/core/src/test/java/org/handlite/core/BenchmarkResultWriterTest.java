package org.handlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchmarkResultWriterTest {

    private static BenchmarkResultWriter.Run run() {
        BenchmarkResultWriter.Run r = new BenchmarkResultWriter.Run();
        r.modelPath = "/sdcard/Android/data/org.handlite.app/files/handlite/models/handlite_224_int8.tflite";
        r.modelSha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        r.modelBytes = 2_900_000L;
        r.variant = "224_int8";
        r.inputSize = 224;
        r.precision = "int8";
        r.serial = "ABC123";
        r.deviceModel = "Pixel 7";
        r.threads = 4;
        r.delegate = "xnnpack";
        r.runs = 5;
        r.warmup = 2;
        r.invokeMs = new double[] {10, 11, 12, 13, 30};
        r.preprocessMs = new double[] {1, 1, 1, 1, 1};
        r.decodeMs = new double[] {0.5, 0.5, 0.5, 0.5, 0.5};
        r.pipelineMs = new double[] {12, 12.5, 13, 14, 31};
        return r;
    }

    @Test
    @SuppressWarnings("unchecked")
    public void recordFollowsTheContract() {
        Map<String, Object> rec = BenchmarkResultWriter.record(run(), "abc", "2026-01-01T00:00:00Z");
        assertEquals(Arrays.asList("schema", "id", "cell", "time_utc", "status", "error", "model",
                "target", "settings", "stats", "samples_ms", "delegation", "hygiene", "flags", "parity"),
                Arrays.asList(rec.keySet().toArray()));
        assertEquals("handlite.bench/1", rec.get("schema"));
        assertEquals("ABC123|0123456789ab|app|xnnpack|t4", rec.get("cell"));
        assertEquals("ok", rec.get("status"));
        Map<String, Object> model = (Map<String, Object>) rec.get("model");
        assertEquals("handlite_224_int8.tflite", model.get("name"));
        Map<String, Object> target = (Map<String, Object>) rec.get("target");
        assertEquals("android", target.get("kind"));
        assertEquals("app", ((Map<String, Object>) target.get("runtime")).get("name"));
        Map<String, Object> stats = (Map<String, Object>) rec.get("stats");
        Map<String, Object> invoke = (Map<String, Object>) stats.get("invoke");
        assertEquals(12.0, invoke.get("median_ms"));
        assertEquals(1, invoke.get("outliers")); // 30 ms: |30 - 12| > 5 * MAD (1)
        assertEquals("pipeline", stats.get("fps_basis"));
        assertEquals(1000 / 13.0, (Double) stats.get("fps"), 1e-12);
        assertNull(stats.get("init_ms"));
        Map<String, Object> samples = (Map<String, Object>) rec.get("samples_ms");
        assertEquals(Arrays.asList("invoke", "preprocess", "decode"), Arrays.asList(samples.keySet().toArray()));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void failedRunsCarryTheErrorAndNoNumbers() {
        BenchmarkResultWriter.Run r = new BenchmarkResultWriter.Run();
        r.ok = false;
        r.error = "GPU delegate failed: no OpenCL";
        r.delegate = "gpu";
        Map<String, Object> rec = Json.parseObject(BenchmarkResultWriter.line(r));
        assertEquals("failed", rec.get("status"));
        assertEquals(r.error, rec.get("error"));
        Map<String, Object> stats = (Map<String, Object>) rec.get("stats");
        assertNull(stats.get("invoke"));
        assertNull(stats.get("fps"));
        assertEquals("android:unknown|unknown|app|gpu|t1", rec.get("cell"));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void partialDelegationIsFlagged() {
        BenchmarkResultWriter.Run r = run();
        r.delegate = "gpu";
        r.delegatedNodes = 40;
        r.totalNodes = 66;
        Map<String, Object> rec = BenchmarkResultWriter.record(r, null, null);
        assertEquals(Boolean.TRUE, ((Map<String, Object>) rec.get("delegation")).get("partial"));
        assertTrue(((List<Object>) rec.get("flags")).contains("partial_delegation"));
        assertEquals(32, ((String) rec.get("id")).length());
        assertTrue(((String) rec.get("time_utc")).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"));
    }

    @Test
    public void writesOneLineAtomically() throws IOException {
        File dir = Files.createTempDirectory("handlite-result").toFile();
        File sub = new File(dir, "handlite");
        String line = BenchmarkResultWriter.write(run(), sub, "result.json");
        String text = new String(Files.readAllBytes(new File(sub, "result.json").toPath()), StandardCharsets.UTF_8);
        assertEquals(line + "\n", text);
        assertEquals("handlite.bench/1", Json.parseObject(text.trim()).get("schema"));
        String[] left = sub.list();
        assertEquals("no temporary file may stay behind", 1, left.length);
        for (String name : new String[] {"../x.json", ".hidden", ""}) {
            try {
                BenchmarkResultWriter.write(run(), sub, name);
                throw new AssertionError("accepted result name " + name);
            } catch (IOException expected) {
                assertFalse(new File(dir, "x.json").exists());
            }
        }
    }

    @Test
    public void sha256OfAStream() throws IOException {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                BenchmarkResultWriter.sha256(new ByteArrayInputStream("abc".getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    public void errorsFailTheRunWithTheirReason() {
        BenchmarkResultWriter.Run r = run();
        BenchmarkResultWriter.fail(r, new NoSuchMethodError("java.nio.ByteBuffer.position(I)Ljava/nio/ByteBuffer;"));
        assertFalse(r.ok);
        assertEquals("NoSuchMethodError: java.nio.ByteBuffer.position(I)Ljava/nio/ByteBuffer;", r.error);
        assertEquals("failed", BenchmarkResultWriter.record(r, "id", "t").get("status"));
        assertEquals("UnsatisfiedLinkError", BenchmarkResultWriter.describe(new UnsatisfiedLinkError()));
        assertEquals("IllegalStateException: java.io.IOException: disk full",
                BenchmarkResultWriter.describe(new IllegalStateException(new java.io.IOException("disk full\nmore"))));
    }
}
