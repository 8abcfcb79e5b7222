package org.tensorflow.lite;

public interface Tensor {
    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) { throw new RuntimeException("Stub!"); }

        public float getScale() { throw new RuntimeException("Stub!"); }

        public int getZeroPoint() { throw new RuntimeException("Stub!"); }
    }

    DataType dataType();

    int numDimensions();

    int numBytes();

    int numElements();

    int[] shape();

    String name();

    QuantizationParams quantizationParams();
}
