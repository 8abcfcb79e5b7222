package androidx.appcompat.widget;

import android.content.Context;
import android.util.AttributeSet;
import android.widget.CompoundButton;

public class SwitchCompat extends CompoundButton {
    public SwitchCompat(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }
}
