package org.tensorflow.lite;

import java.nio.ByteBuffer;
import java.util.Map;

// the real class extends InterpreterImpl and implements InterpreterApi; the app uses
// only these members
public final class Interpreter implements AutoCloseable {
    // plain Java setters in the real class too: they work here, so a JVM run reaches the
    // native boundary (the constructor) as it does with the real classes
    public static class Options {
        public Options() { }

        public Options setNumThreads(int numThreads) { return this; }

        public Options setUseXNNPACK(boolean useXNNPACK) { return this; }

        public Options addDelegate(Delegate delegate) { return this; }
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public void run(Object input, Object output) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public int getInputTensorCount() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public int getOutputTensorCount() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public Tensor getInputTensor(int inputIndex) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    public Tensor getOutputTensor(int outputIndex) { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }

    @Override
    public void close() { throw new UnsatisfiedLinkError("stub: no LiteRT native library on this JVM"); }
}
