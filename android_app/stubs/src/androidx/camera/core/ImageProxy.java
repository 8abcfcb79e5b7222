package androidx.camera.core;

import java.nio.ByteBuffer;

public interface ImageProxy extends AutoCloseable {
    interface PlaneProxy {
        int getRowStride();

        int getPixelStride();

        ByteBuffer getBuffer();
    }

    @Override
    void close();

    int getWidth();

    int getHeight();

    PlaneProxy[] getPlanes();

    ImageInfo getImageInfo();
}
