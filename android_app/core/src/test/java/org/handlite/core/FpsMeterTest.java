package org.handlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class FpsMeterTest {
    @Test
    public void steadyFramesGiveTheirRate() {
        FpsMeter m = new FpsMeter(10);
        assertTrue(Double.isNaN(m.tick(0)));
        double fps = 0;
        for (int i = 1; i < 50; i++) {
            fps = m.tick(i * 40_000_000L); // 25 fps
        }
        assertEquals(25.0, fps, 1e-9);
    }

    @Test
    public void theWindowForgetsOldFrames() {
        FpsMeter m = new FpsMeter(5);
        long t = 0;
        for (int i = 0; i < 5; i++) {
            m.tick(t += 100_000_000L); // 10 fps
        }
        for (int i = 0; i < 5; i++) {
            m.tick(t += 20_000_000L); // 50 fps
        }
        assertEquals(50.0, m.fps(), 1e-9);
    }

    @Test
    public void aClockGoingBackwardsStartsOver() {
        FpsMeter m = new FpsMeter(5);
        m.tick(1_000_000_000L);
        m.tick(1_100_000_000L);
        assertTrue(Double.isNaN(m.tick(5L)));
    }
}
