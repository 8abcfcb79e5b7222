package org.tensorflow.lite;

// older releases declare only this method; newer ones add a default close(). The app must
// work with both, so the stub keeps the common part.
public interface Delegate {
    long getNativeHandle();
}
