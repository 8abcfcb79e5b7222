package org.handlite.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;
import java.util.UUID;

/**
 * Builds and writes one {@code handlite.bench/1} record (docs/CONTRACTS.md), the same schema
 * the Python results store reads: what ran (model), where (target), how (settings), and the
 * latency statistics with their raw samples.
 *
 * <p>Units: times in milliseconds, sizes in bytes, memory in MB. Unknown or unmeasured values
 * are null, never 0. Fill the public fields of a {@link Run}, then call {@link #record} or
 * {@link #write}.
 */
public final class BenchmarkResultWriter {
    public static final String SCHEMA = "handlite.bench/1";
    public static final String RUNNER = "app";

    private BenchmarkResultWriter() {}

    /** Everything one benchmark cell measured; null means unknown. */
    public static final class Run {
        // model
        public String modelPath;
        public String modelSha256;
        public Long modelBytes;
        public String variant;
        public Integer inputSize;
        public String precision;
        // target
        public String targetId;
        public String serial;
        public String deviceModel;
        public String soc;
        public String abi;
        public String cpu;
        public Integer cores;
        public String os;
        public String runtimeVersion;
        // settings
        public int threads = 1;
        public String delegate = "cpu";
        public int runs;
        public int warmup;
        // results
        public boolean ok = true;
        public String error;
        public double[] invokeMs;
        public double[] preprocessMs;
        public double[] decodeMs;
        public double[] pipelineMs;
        public Double initMs;
        public Double firstMs;
        public Double warmupMeanMs;
        public Double memoryMb;
        public Integer delegatedNodes;
        public Integer totalNodes;
        public final List<String> flags = new ArrayList<>();
    }

    /** The stable key of what ran where: target|sha256[:12]|runner|delegate|t<threads>. */
    public static String cell(Run run) {
        String sha = run.modelSha256 == null ? "unknown"
                : run.modelSha256.substring(0, Math.min(12, run.modelSha256.length()));
        return targetId(run) + "|" + sha + "|" + RUNNER + "|" + run.delegate + "|t" + run.threads;
    }

    private static String targetId(Run run) {
        if (run.targetId != null) {
            return run.targetId;
        }
        return run.serial != null ? run.serial : "android:" + (run.deviceModel == null ? "unknown" : run.deviceModel);
    }

    /** The record as an ordered map; {@code id} and {@code timeUtc} are filled when null. */
    public static Map<String, Object> record(Run run, String id, String timeUtc) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("schema", SCHEMA);
        r.put("id", id != null ? id : UUID.randomUUID().toString().replace("-", ""));
        r.put("cell", cell(run));
        r.put("time_utc", timeUtc != null ? timeUtc : utcNow());
        r.put("status", run.ok ? "ok" : "failed");
        r.put("error", run.ok ? null : (run.error == null ? "unknown error" : run.error));

        Map<String, Object> model = new LinkedHashMap<>();
        model.put("path", run.modelPath);
        model.put("name", run.modelPath == null ? null : new File(run.modelPath).getName());
        model.put("sha256", run.modelSha256);
        model.put("bytes", run.modelBytes);
        model.put("variant", run.variant);
        model.put("input_size", run.inputSize);
        model.put("precision", run.precision);
        r.put("model", model);

        Map<String, Object> target = new LinkedHashMap<>();
        target.put("kind", "android");
        target.put("id", targetId(run));
        target.put("serial", run.serial);
        target.put("model", run.deviceModel);
        target.put("soc", run.soc);
        target.put("abi", run.abi);
        target.put("cpu", run.cpu);
        target.put("cores", run.cores);
        target.put("os", run.os);
        Map<String, Object> runtime = new LinkedHashMap<>();
        runtime.put("name", RUNNER);
        runtime.put("version", run.runtimeVersion);
        target.put("runtime", runtime);
        r.put("target", target);

        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("runner", RUNNER);
        settings.put("threads", run.threads);
        settings.put("delegate", run.delegate);
        settings.put("runs", run.runs);
        settings.put("warmup", run.warmup);
        settings.put("min_secs", 0.0);
        settings.put("cpu_mask", null);
        r.put("settings", settings);

        r.put("stats", stats(run));
        Map<String, Object> samples = new LinkedHashMap<>();
        samples.put("invoke", samplesOrEmpty(run.invokeMs));
        samples.put("preprocess", samplesOrEmpty(run.preprocessMs));
        samples.put("decode", samplesOrEmpty(run.decodeMs));
        r.put("samples_ms", samples);

        Map<String, Object> delegation = new LinkedHashMap<>();
        delegation.put("delegated_nodes", run.delegatedNodes);
        delegation.put("total_nodes", run.totalNodes);
        boolean partial = run.delegatedNodes != null && run.totalNodes != null
                && run.delegatedNodes < run.totalNodes;
        delegation.put("partial", partial);
        r.put("delegation", delegation);
        r.put("hygiene", null);
        List<String> flags = new ArrayList<>(run.flags);
        if (partial && !flags.contains("partial_delegation")) {
            flags.add("partial_delegation");
        }
        r.put("flags", flags);
        r.put("parity", null);
        return r;
    }

    private static Object samplesOrEmpty(double[] samples) {
        return samples == null ? new double[0] : samples;
    }

    /** The stats block: fps from the pipeline median when timed, else from invoke. */
    static Map<String, Object> stats(Run run) {
        LatencyStats invoke = LatencyStats.of(run.invokeMs);
        LatencyStats pre = LatencyStats.of(run.preprocessMs);
        LatencyStats dec = LatencyStats.of(run.decodeMs);
        LatencyStats pipe = LatencyStats.of(run.pipelineMs);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("invoke", invoke == null ? null : invoke.toMap());
        s.put("preprocess", pre == null ? null : pre.toMap());
        s.put("decode", dec == null ? null : dec.toMap());
        s.put("pipeline", pipe == null ? null : pipe.toMap());
        LatencyStats basis = pipe != null ? pipe : invoke;
        double fps = basis == null ? Double.NaN : basis.fps();
        s.put("fps", Double.isNaN(fps) ? null : fps);
        s.put("fps_basis", basis == null || Double.isNaN(fps) ? null : (pipe != null ? "pipeline" : "invoke"));
        s.put("init_ms", run.initMs);
        s.put("first_ms", run.firstMs);
        s.put("warmup_mean_ms", run.warmupMeanMs);
        s.put("memory_mb", run.memoryMb);
        return s;
    }

    /** The record as one line of JSON (no trailing newline). */
    public static String line(Run run) {
        return Json.write(record(run, null, null));
    }

    /**
     * Write the record as one JSON line to {@code dir/name}, atomically: a temporary file in
     * the same folder, fsync, then a rename, so a reader (adb pull) never sees half a record.
     * Returns the line written.
     */
    public static String write(Run run, File dir, String name) throws IOException {
        String line = line(run);
        writeAtomically(dir, name, line + "\n");
        return line;
    }

    /**
     * Mark the run failed with the reason: any {@link Throwable}, Errors included. A phone
     * without a working LiteRT native library throws {@code UnsatisfiedLinkError}, an API the
     * OS lacks {@code NoSuchMethodError}; both must become a failed record, not a dead app.
     */
    public static void fail(Run run, Throwable t) {
        run.ok = false;
        run.error = describe(t);
    }

    /** "ExceptionClass: first line of its message" (the class alone when it has none). */
    public static String describe(Throwable t) {
        String m = t.getMessage();
        String name = t.getClass().getSimpleName();
        if (m == null || m.trim().isEmpty()) {
            return t.getCause() != null && t.getCause() != t ? name + ": " + describe(t.getCause()) : name;
        }
        return name + ": " + m.trim().split("\n")[0];
    }

    /** Raw bytes to {@code dir/name}, atomically (as {@link #write}): the output tensor dump. */
    public static void writeBytes(File dir, String name, byte[] data) throws IOException {
        writeAtomically(dir, name, data);
    }

    static void writeAtomically(File dir, String name, String text) throws IOException {
        writeAtomically(dir, name, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeAtomically(File dir, String name, byte[] data) throws IOException {
        if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new IOException("result file name must be a plain file name, got '" + name + "'");
        }
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File tmp = new File(dir, "." + name + ".tmp");
        try (FileOutputStream out = new FileOutputStream(tmp)) {
            out.write(data);
            out.getFD().sync();
        }
        Files.move(tmp.toPath(), new File(dir, name).toPath(), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
    }

    /** Hex SHA-256 of a stream (the model file), read to its end. */
    public static String sha256(InputStream in) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this Java runtime", e);
        }
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
            md.update(buf, 0, n);
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : md.digest()) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    /** ISO-8601 UTC time to the second, as the contract writes it. */
    public static String utcNow() {
        SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.ROOT);
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return f.format(new Date());
    }
}
