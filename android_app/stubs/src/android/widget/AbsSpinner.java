package android.widget;

import android.content.Context;
import android.util.AttributeSet;

public abstract class AbsSpinner extends AdapterView<SpinnerAdapter> {
    public AbsSpinner(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }

    @Override
    public void setSelection(int position) { throw new RuntimeException("Stub!"); }
}
