package android.graphics;

public class Canvas {
    public void drawRect(float left, float top, float right, float bottom, Paint paint) { throw new RuntimeException("Stub!"); }

    public void drawLine(float startX, float startY, float stopX, float stopY, Paint paint) { throw new RuntimeException("Stub!"); }

    public void drawCircle(float cx, float cy, float radius, Paint paint) { throw new RuntimeException("Stub!"); }
}
