package android.widget;

import android.content.Context;
import android.util.AttributeSet;
import android.view.View;
import android.view.ViewGroup;

public abstract class AdapterView<T extends Adapter> extends ViewGroup {
    public interface OnItemSelectedListener {
        void onItemSelected(AdapterView<?> parent, View view, int position, long id);

        void onNothingSelected(AdapterView<?> parent);
    }

    public AdapterView(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }

    public void setOnItemSelectedListener(OnItemSelectedListener listener) { throw new RuntimeException("Stub!"); }

    public abstract void setSelection(int position);
}
