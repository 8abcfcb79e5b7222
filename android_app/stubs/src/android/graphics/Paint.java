package android.graphics;

public class Paint {
    public static final int ANTI_ALIAS_FLAG = 1;

    public enum Style { FILL, STROKE, FILL_AND_STROKE }

    public Paint(int flags) { throw new RuntimeException("Stub!"); }

    public void setStyle(Style style) { throw new RuntimeException("Stub!"); }

    public void setStrokeWidth(float width) { throw new RuntimeException("Stub!"); }

    public void setColor(int color) { throw new RuntimeException("Stub!"); }

    public void setAlpha(int a) { throw new RuntimeException("Stub!"); }
}
