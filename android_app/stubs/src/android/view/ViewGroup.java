package android.view;

import android.content.Context;
import android.util.AttributeSet;

public abstract class ViewGroup extends View {
    public ViewGroup(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }
}
