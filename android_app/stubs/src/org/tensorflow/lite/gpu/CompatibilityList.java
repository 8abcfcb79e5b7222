package org.tensorflow.lite.gpu;

import java.io.Closeable;

public class CompatibilityList implements Closeable {
    public CompatibilityList() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public boolean isDelegateSupportedOnThisDevice() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public GpuDelegate.Options getBestOptionsForThisDevice() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public void close() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }
}
