package org.tensorflow.lite.gpu;

import java.io.Closeable;
import org.tensorflow.lite.Delegate;

public class GpuDelegate implements Delegate, Closeable {
    // the real Options extends GpuDelegateFactory.Options (litert-gpu-api)
    public static final class Options {
        public Options() { }
    }

    public GpuDelegate(Options options) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public GpuDelegate() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public long getNativeHandle() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public void close() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }
}
