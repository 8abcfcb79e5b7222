package android.view;

import android.content.Context;
import android.graphics.Canvas;
import android.util.AttributeSet;

public class View {
    public static final int VISIBLE = 0;
    public static final int GONE = 8;

    public View(Context context, AttributeSet attrs) { throw new RuntimeException("Stub!"); }

    protected void onSizeChanged(int w, int h, int oldw, int oldh) { throw new RuntimeException("Stub!"); }

    public boolean onTouchEvent(MotionEvent event) { throw new RuntimeException("Stub!"); }

    protected void onDraw(Canvas canvas) { throw new RuntimeException("Stub!"); }

    public final int getWidth() { throw new RuntimeException("Stub!"); }

    public final int getHeight() { throw new RuntimeException("Stub!"); }

    public void invalidate() { throw new RuntimeException("Stub!"); }

    public void postInvalidate() { throw new RuntimeException("Stub!"); }

    public void setVisibility(int visibility) { throw new RuntimeException("Stub!"); }
}
