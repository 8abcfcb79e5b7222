package org.tensorflow.lite.nnapi;

import org.tensorflow.lite.Delegate;

public class NnApiDelegate implements Delegate, AutoCloseable {
    public NnApiDelegate() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public long getNativeHandle() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public void close() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }
}
