package android.widget;

import android.content.Context;
import android.util.AttributeSet;

public class Spinner extends AbsSpinner {
    public Spinner(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }
}
