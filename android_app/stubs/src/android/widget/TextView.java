package android.widget;

import android.content.Context;
import android.util.AttributeSet;
import android.view.View;

public class TextView extends View {
    public TextView(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }

    public final void setText(CharSequence text) { throw new RuntimeException("Stub!"); }
}
