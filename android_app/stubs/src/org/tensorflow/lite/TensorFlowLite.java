package org.tensorflow.lite;

public final class TensorFlowLite {
    private TensorFlowLite() { }

    public static String runtimeVersion() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }
}
