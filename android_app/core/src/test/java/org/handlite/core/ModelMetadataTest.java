package org.handlite.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.Test;

/**
 * ModelMetadata on a real converted .tflite (golden/tiny_model.tflite: TFLiteConverter output,
 * metadata embedded by handlite.metadata.embed_metadata) and on broken inputs.
 */
public class ModelMetadataTest {

    private static byte[] model() throws Exception {
        return Resources.bytes("golden/tiny_model.tflite");
    }

    @Test
    public void readsTheHandliteEntryOfAConvertedModel() throws Exception {
        ModelMetadata m = ModelMetadata.fromModel(model());
        assertEquals("handlite.model/1", m.format);
        assertEquals("16_float32", m.variant);
        assertEquals(16, m.inputSize);
        assertEquals(4, m.stride);
        assertEquals(4, m.heatmapSize);
        assertEquals(21, m.numKeypoints);
        assertEquals("float32", m.inputDtype);
        assertFalse(m.inputQuantized());
        assertTrue(Float.isNaN(m.inputScale));
        assertEquals("heatmaps", m.outputKind);
        assertEquals("RGB", m.channelOrder);
        assertArrayEquals(new float[] {128f, 128f, 128f}, m.mean, 0f);
        assertArrayEquals(new float[] {127.5f, 127.5f, 127.5f}, m.std, 0f);
        assertEquals(128, m.padValue);
        assertArrayEquals(new int[] {1, 16, 16, 3}, m.inputShape);
        assertEquals(Arrays.asList(HandSkeleton.NAMES), m.keypointNames);
        assertEquals(20, m.skeleton.length);
        for (int i = 0; i < 20; i++) {
            assertArrayEquals(HandSkeleton.BONES[i], m.skeleton[i]);
        }
        assertEquals(10f, m.decode.softmaxBeta, 0f);
        assertEquals(0.005f, m.decode.minConfidence, 0f);
        assertEquals(3, m.decode.fallbackPeaks);
        assertEquals("dark", m.decode.refine);
        assertEquals(4, m.decoder().stride());
        assertEquals(16, m.preprocess().size());
    }

    @Test
    public void theStoredJsonComesBackByteForByte() throws Exception {
        assertEquals(Resources.text("golden/tiny_model.json"), ModelMetadata.jsonFromModel(model()));
    }

    /** Rename the "handlite" entry: the reader must say what it found instead. */
    @Test
    public void aModelWithoutHandliteMetadataIsNamed() throws Exception {
        byte[] data = model();
        byte[] name = "\u0008\u0000\u0000\u0000handlite\u0000".getBytes(StandardCharsets.ISO_8859_1);
        int at = indexOf(data, name);
        assertTrue("entry name not found in the flatbuffer", at >= 0);
        data[at + 11] = 'X';
        try {
            ModelMetadata.fromModel(data);
            fail("expected a MetadataException");
        } catch (ModelMetadata.MetadataException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("no 'handlite' metadata"));
            assertTrue(e.getMessage(), e.getMessage().contains("handlitX"));
        }
    }

    @Test
    public void notATfliteFileIsRefused() {
        for (byte[] junk : new byte[][] {new byte[0], "hello".getBytes(StandardCharsets.UTF_8),
                "{\"format\": \"handlite.model/1\"}".getBytes(StandardCharsets.UTF_8)}) {
            try {
                ModelMetadata.fromModel(junk);
                fail("expected a MetadataException");
            } catch (ModelMetadata.MetadataException expected) {
                // a clear message, not an index error
            }
        }
    }

    /** Truncations and flipped bytes: either a result or a MetadataException, nothing else. */
    @Test
    public void corruptModelsFailCleanly() throws Exception {
        byte[] good = model();
        for (int len = 0; len < good.length; len += 97) {
            expectCleanOutcome(Arrays.copyOf(good, len));
        }
        Random rng = new Random(8);
        for (int i = 0; i < 400; i++) {
            byte[] bad = good.clone();
            for (int flips = 0; flips < 1 + rng.nextInt(4); flips++) {
                bad[rng.nextInt(bad.length)] = (byte) rng.nextInt(256);
            }
            expectCleanOutcome(bad);
        }
    }

    private static void expectCleanOutcome(byte[] data) {
        try {
            ModelMetadata.fromModel(data);
        } catch (ModelMetadata.MetadataException expected) {
            // the one failure a caller has to handle
        } catch (RuntimeException e) {
            throw new AssertionError("corrupt model gave " + e + " instead of MetadataException", e);
        }
    }

    @Test
    public void quantisedInputsNeedAScale() throws Exception {
        String json = Resources.text("golden/tiny_model.json")
                .replace("\"input\":{\"name\":\"image\",\"shape\":[1,16,16,3],\"dtype\":\"float32\",\"scale\":null,\"zero_point\":null}",
                        "\"input\":{\"name\":\"image\",\"shape\":[1,16,16,3],\"dtype\":\"int8\",\"scale\":0.0078125,\"zero_point\":-1}");
        ModelMetadata m = ModelMetadata.fromJson(json);
        assertTrue(m.inputQuantized());
        assertEquals(0.0078125f, m.inputScale, 0f);
        assertEquals(-1, m.inputZeroPoint);
        try {
            ModelMetadata.fromJson(json.replace("\"scale\":0.0078125", "\"scale\":null"));
            fail("an int8 input without a scale must be refused");
        } catch (ModelMetadata.MetadataException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("input.scale"));
        }
    }

    @Test
    public void badDocumentsSayWhatIsWrong() throws Exception {
        String good = Resources.text("golden/tiny_model.json");
        String[][] cases = {
            {good.replace("handlite.model/1", "handlite.model/2"), "newer"},
            {good.replace("\"stride\":4", "\"stride\":3"), "heatmap_size"},
            {good.replace("\"refine\":\"dark\"", "\"refine\":\"taylor\""), "refinement"},
            {good.replace("[19,20]", "[19,21]"), "skeleton"},
            {good.replace("\"input_size\":16", "\"input_size\":16.5"), "whole number"},
            {good.substring(0, good.length() - 1), "not valid JSON"},
        };
        for (String[] c : cases) {
            try {
                ModelMetadata.fromJson(c[0]);
                fail("expected an error mentioning " + c[1]);
            } catch (ModelMetadata.MetadataException e) {
                assertTrue(c[1] + " not in: " + e.getMessage(), e.getMessage().contains(c[1]));
            }
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
