package android.view;

import android.content.Context;

public class ScaleGestureDetector {
    public interface OnScaleGestureListener {
        boolean onScale(ScaleGestureDetector detector);

        boolean onScaleBegin(ScaleGestureDetector detector);

        void onScaleEnd(ScaleGestureDetector detector);
    }

    public static class SimpleOnScaleGestureListener implements OnScaleGestureListener {
        @Override
        public boolean onScale(ScaleGestureDetector detector) { throw new RuntimeException("Stub!"); }

        @Override
        public boolean onScaleBegin(ScaleGestureDetector detector) { throw new RuntimeException("Stub!"); }

        @Override
        public void onScaleEnd(ScaleGestureDetector detector) { throw new RuntimeException("Stub!"); }
    }

    public ScaleGestureDetector(Context context, OnScaleGestureListener listener) { throw new RuntimeException("Stub!"); }

    public boolean onTouchEvent(MotionEvent event) { throw new RuntimeException("Stub!"); }

    public boolean isInProgress() { throw new RuntimeException("Stub!"); }

    public float getScaleFactor() { throw new RuntimeException("Stub!"); }
}
