package org.handlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {

    @Test
    public void parsesEveryValueKind() {
        Map<String, Object> o = Json.parseObject(
                " {\"a\": [1, -2.5e1, 0.125, true, false, null], \"s\": \"x\\\"\\\\\\/\\n\\u00e9\\ud83d\\udc4b\","
                        + " \"big\": 12345678901234567890, \"o\": {}} ");
        List<Object> a = Json.getArray(o, "a");
        assertEquals(Arrays.asList(1L, -25.0, 0.125, true, false, null), a);
        assertEquals("x\"\\/\n\u00e9\ud83d\udc4b", o.get("s"));
        assertEquals(1.2345678901234567e19, (Double) o.get("big"), 1e4);
        assertEquals(new LinkedHashMap<String, Object>(), o.get("o"));
    }

    @Test
    public void refusesWhatRfc8259Refuses() {
        String[] bad = {"", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "{'a':1}", "[1] x",
            "\"\u0001\"", "[\"\\x\"]", "{\"a\" 1}", "[nul]", "[1e]", "\"abc"};
        for (String s : bad) {
            try {
                Json.parse(s);
                fail("accepted bad JSON: " + s);
            } catch (Json.JsonException expected) {
                assertTrue(expected.getMessage().startsWith("bad JSON at offset"));
            }
        }
    }

    @Test(expected = Json.JsonException.class)
    public void deepNestingIsRefusedNotAStackOverflow() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 10000; i++) {
            s.append('[');
        }
        Json.parse(s.toString());
    }

    @Test
    public void writesOneLineThatParsesBack() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", "line\nbreak \"quoted\" \u2028");
        m.put("nan", Double.NaN);
        m.put("whole", 3.0);
        m.put("small", 1.5e-7);
        m.put("ints", new int[] {1, 2});
        m.put("doubles", new double[] {0.5, Double.POSITIVE_INFINITY});
        m.put("none", null);
        String out = Json.write(m);
        assertTrue(out, !out.contains("\n") && !out.contains("\u2028"));
        Map<String, Object> back = Json.parseObject(out);
        assertEquals(m.get("text"), back.get("text"));
        assertNull(back.get("nan"));
        assertEquals(3.0, back.get("whole"));
        assertEquals(1.5e-7, (Double) back.get("small"), 0);
        assertEquals(Arrays.asList(1L, 2L), back.get("ints"));
        assertEquals(Arrays.asList(0.5, null), back.get("doubles"));
        assertTrue(back.containsKey("none"));
    }
}
